using FluxStudio.Engine.Layers;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Flux;

public sealed class ScaledDotProductAttentionTests
{
    /// <summary>softmax(q·kᵀ/√d)·v written out in float64, the tokens × tokens matrix and all.</summary>
    private static Tensor Reference(Tensor q, Tensor k, Tensor v)
    {
        var (q64, k64, v64) = (q.to(ScalarType.Float64), k.to(ScalarType.Float64), v.to(ScalarType.Float64));
        var scores = q64.matmul(k64.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]);
        return scores.softmax(-1).matmul(v64);
    }

    private static (Tensor Q, Tensor K, Tensor V) Inputs(ScalarType dtype, long heads = 3, long length = 37, long headDim = 16)
    {
        var generator = new Generator(5);
        Tensor Draw() => randn([2, heads, length, headDim], generator: generator).to(dtype);
        return (Draw(), Draw(), Draw());
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 3e-2)]
    public void MatchesTheWrittenOutFormula(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = Inputs(dtype);
        TensorAssert.Close(Reference(q, k, v), ScaledDotProductAttention.Compute(q, k, v), tolerance, $"{dtype} attention");
    }

    [Fact]
    public void InputsWhoseLastDimensionIsStridedGiveTheSameResult()
    {
        // The VAE's layout: channels-first images viewed as (B, 1, pixels, channels), so the last dimension is strided.
        using var scope = NewDisposeScope();
        var images = randn([1, 3, 8, 20], generator: new Generator(9));
        var tokens = images.view(1, 3, 8, 20).transpose(2, 3);
        Assert.NotEqual(1, tokens.stride(-1));

        var attended = ScaledDotProductAttention.Compute(tokens, tokens, tokens);

        TensorAssert.Close(Reference(tokens, tokens, tokens), attended, 1e-5, "strided attention");
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1)]
    [InlineData(ScalarType.Float32, 5)]
    [InlineData(ScalarType.BFloat16, 8)]
    [InlineData(ScalarType.Float32, 37)]
    public void QueriesInChunksGiveExactlyWhatOneCallGives(ScalarType dtype, long rows)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = Inputs(dtype);
        var whole = nn.functional.scaled_dot_product_attention(q, k, v);

        TensorAssert.Close(whole, ScaledDotProductAttention.Chunked(q, k, v, rows), dtype == ScalarType.Float32 ? 1e-6 : 1e-2, $"{rows} rows");
    }

    [Fact]
    public void ChunksKeepTheirScoresWithinTheBudget()
    {
        using var scope = NewDisposeScope();
        var (q, k, _) = Inputs(ScalarType.Float32, heads: 24, length: 4608, headDim: 8);
        var rows = ScaledDotProductAttention.RowsPerChunk(q, k, ScaledDotProductAttention.ChunkScoreBytes);

        long chunkScores = q.shape[0] * q.shape[1] * rows * k.shape[2] * sizeof(float);
        Assert.InRange(chunkScores, ScaledDotProductAttention.ChunkScoreBytes / 2, ScaledDotProductAttention.ChunkScoreBytes);
        Assert.Equal(1, ScaledDotProductAttention.RowsPerChunk(q, k, 1));
    }
}
