using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests;

public static class TensorAssert
{
    public static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var difference = (expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs().max();
        return difference.item<double>();
    }

    public static void Close(Tensor expected, Tensor actual, double tolerance, string what)
    {
        double difference = MaxAbsDiff(expected, actual);
        Assert.True(difference <= tolerance, $"{what}: max abs difference {difference:E3} exceeds {tolerance:E1}");
    }

    public static void Identical(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.contiguous().bytes.SequenceEqual(actual.contiguous().bytes), $"{what} is not bit-identical");
    }
}
