using FluxStudio.Engine.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Flux;

public sealed class ScaledDotProductAttentionTests
{
    /// <summary>softmax(q·kᵀ/√d)·v written out in float64, the tokens × tokens matrix and all.</summary>
    private static Tensor Reference(Tensor q, Tensor k, Tensor v)
    {
        var (q64, k64, v64) = (q.to(ScalarType.Float64), k.to(ScalarType.Float64), v.to(ScalarType.Float64));
        using var sqrtHeadDim = Math.Sqrt(q.shape[^1]).ToScalar();
        var scores = q64.matmul(k64.transpose(-2, -1)) / sqrtHeadDim;
        return scores.softmax(-1).matmul(v64);
    }

    private static (Tensor Q, Tensor K, Tensor V) Inputs(ScalarType dtype, long heads = 3, long length = 37, long headDim = 16)
    {
        var generator = new Generator(5);
        Tensor Draw() => randn([2, heads, length, headDim], generator: generator).to(dtype);
        return (Draw(), Draw(), Draw());
    }

    /// <summary>
    /// bfloat16 q, k, v whose logits q·k/√d have a standard deviation of <paramref name="logitSpread"/>: at 12 a row's
    /// largest weights stand far above the rest, where rounding the scores would cost the most.
    /// </summary>
    private static (Tensor Q, Tensor K, Tensor V) BFloat16Inputs(double logitSpread, long heads, long queries, long keys, long headDim)
    {
        var generator = new Generator(3);
        using var magnitude = Math.Sqrt(logitSpread).ToScalar();
        var q = (randn([2, heads, queries, headDim], generator: generator) * magnitude).to(ScalarType.BFloat16);
        var k = (randn([2, heads, keys, headDim], generator: generator) * magnitude).to(ScalarType.BFloat16);
        var v = randn([2, heads, keys, headDim], generator: generator).to(ScalarType.BFloat16);
        return (q, k, v);
    }

    /// <summary>
    /// Two bfloat16 steps at the magnitude of the largest value: each output is a weighted mean of the rows of v, so it
    /// is rounded to within half a step of that magnitude, and the weights' own rounding (2⁻⁹ of each weight) moves it
    /// by at most half a step more; two steps leave room for both paths.
    /// </summary>
    private static double TwoBFloat16Steps(Tensor v)
    {
        double largest = v.abs().max().to(ScalarType.Float32).item<float>();
        return 2 * Math.Pow(2, Math.Floor(Math.Log2(largest)) - 7);
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

    [Theory]
    [InlineData(1.0)]
    [InlineData(4.0)]
    [InlineData(12.0)]
    public void BFloat16ProductsStayWithinTwoStepsOfTheFusedKernel(double logitSpread)
    {
        // Blocks of 2 heads and 40 rows leave a partial block in both directions.
        using var scope = NewDisposeScope();
        var (q, k, v) = BFloat16Inputs(logitSpread, heads: 3, queries: 300, keys: 300, headDim: 64);

        var products = ScaledDotProductAttention.Products(q, k, v, new ScaledDotProductAttention.Blocks(2, 40));

        TensorAssert.Close(nn.functional.scaled_dot_product_attention(q, k, v), products, TwoBFloat16Steps(v), $"logits of spread {logitSpread}");
    }

    [Fact]
    public void BFloat16ProductsMatchTheWrittenOutFormulaWithMoreKeysThanQueries()
    {
        // Fewer queries than keys: a softmax over the wrong axis or a wrong scale lands far outside two steps.
        using var scope = NewDisposeScope();
        var (q, k, v) = BFloat16Inputs(logitSpread: 4, heads: 3, queries: 45, keys: 70, headDim: 16);

        var products = ScaledDotProductAttention.Products(q, k, v, new ScaledDotProductAttention.Blocks(2, 16));

        Assert.Equal([2, 3, 45, 16], products.shape);
        TensorAssert.Close(Reference(q, k, v), products, TwoBFloat16Steps(v), "bf16 products");
    }

    [Fact]
    public void ComputeMultipliesBFloat16OnTheCpuAndKeepsTheFusedKernelForFloat32()
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = BFloat16Inputs(logitSpread: 1, heads: 3, queries: 37, keys: 37, headDim: 16);
        TensorAssert.Identical(ScaledDotProductAttention.Products(q, k, v, ScaledDotProductAttention.BlocksFor(q, k, get_num_threads())),
            ScaledDotProductAttention.Compute(q, k, v), "bf16 attention");

        var (q32, k32, v32) = Inputs(ScalarType.Float32);
        TensorAssert.Identical(nn.functional.scaled_dot_product_attention(q32, k32, v32), ScaledDotProductAttention.Compute(q32, k32, v32), "fp32 attention");
    }

    [Fact]
    public void BFloat16AttentionThatRecordsAGradientKeepsTheFusedKernel()
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = BFloat16Inputs(logitSpread: 1, heads: 3, queries: 37, keys: 37, headDim: 16);
        var query = q.requires_grad_();

        var attention = ScaledDotProductAttention.Compute(query, k, v);
        attention.sum().backward();

        using (no_grad())
            TensorAssert.Identical(nn.functional.scaled_dot_product_attention(q, k, v), attention.detach(), "bf16 attention with a gradient");
        Assert.NotNull(query.grad);
    }

    [Theory]
    [InlineData(24, 1280, 128, 1)] // the FLUX.1 slice of the bench: 1024 + 256 tokens
    [InlineData(24, 1280, 128, 2)]
    [InlineData(24, 4608, 128, 1)] // FLUX.1 at 1024²
    [InlineData(24, 4608, 128, 16)]
    [InlineData(1, 16384, 512, 1)] // the VAE's attention at a 128 × 128 latent
    [InlineData(1, 65536, 512, 1)] // and at 256 × 256
    [InlineData(1, 65536, 512, 64)]
    [InlineData(3, 37, 16, 2)]
    public void ProductBlocksStayNearTheCacheBudgetAndGrowLinearlyWithTheKeys(long heads, long tokens, long headDim, int threads)
    {
        using var scope = NewDisposeScope();
        var q = empty([1, heads, tokens, headDim], ScalarType.BFloat16);
        long rowBytes = tokens * q.element_size();

        var blocks = ScaledDotProductAttention.BlocksFor(q, q, threads);

        Assert.InRange(blocks.Heads, 1, heads);
        Assert.InRange(blocks.Rows, Math.Min(tokens, ScaledDotProductAttention.MinBlockRows), Math.Min(tokens, ScaledDotProductAttention.BlockRows));
        long blockBytes = blocks.Heads * blocks.Rows * rowBytes;
        long budget = ScaledDotProductAttention.BlockScoreBytes * threads;
        Assert.True(blockBytes <= Math.Max(budget, ScaledDotProductAttention.MinBlockRows * rowBytes),
            $"a block of {blocks.Heads} heads × {blocks.Rows} rows holds {blockBytes} bytes of scores");
        // The budget is used: one more head would not fit.
        Assert.True(blocks.Heads == heads || (blocks.Heads + 1) * blocks.Rows * rowBytes > budget,
            $"{blocks.Heads} heads × {blocks.Rows} rows leave room in {budget} bytes");
    }
}
