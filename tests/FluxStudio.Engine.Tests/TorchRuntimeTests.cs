using FluxStudio.Engine.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests;

public sealed class TorchRuntimeTests
{
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

        var reference = matmul(softmax(matmul(q, k.transpose(-2, -1)) / Math.Sqrt(8), -1), v);
        var difference = (attention.to(ScalarType.Float32) - reference).abs().max().item<float>();
        Assert.True(difference < 0.05f, $"bf16 attention is {difference} away from the float32 definition");
    }
}
