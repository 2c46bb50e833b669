using FluxStudio.Engine.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests;

public sealed class TorchRuntimeTests
{
    private static readonly Scalar SqrtHeadDim = Math.Sqrt(8);

    [Fact]
    public void LibTorchLoadsAndReportsItself()
    {
        Assert.StartsWith("2.10", TorchRuntime.LibTorchVersion);
        Assert.True(TorchRuntime.Threads >= 1);
    }

    [Fact]
    public void Float32MatmulMatchesAHandComputedProduct()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, [3, 2]);
        using var product = matmul(a, b);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, product.data<float>().ToArray());
    }

    [Fact]
    public void BFloat16ScaledDotProductAttentionMatchesTheDefinition()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(1234);
        var q = randn([1, 2, 5, 8], generator: generator);
        var k = randn([1, 2, 5, 8], generator: generator);
        var v = randn([1, 2, 5, 8], generator: generator);

        var attention = nn.functional.scaled_dot_product_attention(
            q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, attention.dtype);

        var reference = matmul(softmax(matmul(q, k.transpose(-2, -1)) / SqrtHeadDim, -1), v);
        var difference = (attention.to(ScalarType.Float32) - reference).abs().max().item<float>();
        Assert.True(difference < 0.05f, $"bf16 attention is {difference} away from the float32 definition");
    }

    [Fact]
    public void TensorBaddbmmTakesTheAddedMatrixLast()
    {
        // ScaledDotProductAttention.Products relies on TorchSharp's argument order: batch1.baddbmm(batch2, input).
        using var batch1 = tensor(new float[] { 1, 2, 3, 4 }, [1, 2, 2]);
        using var batch2 = tensor(new float[] { 5, 6, 7, 8 }, [1, 2, 2]);
        using var input = tensor(new float[] { 100, 200 }, [1, 2, 1]);

        using var result = batch1.baddbmm(batch2, input, beta: 1, alpha: 2);

        // 2·[[19, 22], [43, 50]] + [[100], [200]] broadcast over the columns.
        Assert.Equal(new float[] { 138, 144, 286, 300 }, result.data<float>().ToArray());
    }
}
