using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

internal static class TrainingAssert
{
    /// <summary>|expected − actual| ≤ tolerance × max|expected| everywhere (the fixture's "relative to the largest value").</summary>
    public static void CloseToMax(Tensor expected, Tensor actual, double tolerance, string what)
    {
        double scale;
        using (var max = expected.abs().max()) scale = max.item<float>();
        double difference = TensorAssert.MaxAbsDiff(expected, actual);
        Assert.True(difference <= tolerance * scale,
            $"{what}: max abs difference {difference:E3} exceeds {tolerance:E1} × {scale:E3}");
    }

    public static void RelativeClose(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Abs(expected),
            $"{what}: {actual:R} differs from {expected:R} by {Math.Abs(expected - actual) / Math.Abs(expected):E2} (relative), over {tolerance:E1}");
}
