using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// Random weights for models made from scratch (tiny test models): every matrix N(0, 1/fan_in), every bias and
/// shift N(0, 0.2²), every norm scale 1 + N(0, 0.2²), as the golden fixtures were made.
/// </summary>
public static class Initialization
{
    private static readonly Scalar Spread = 0.2;

    public static void Randomize(nn.Module module, Generator generator)
    {
        using var _ = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            using var scope = NewDisposeScope();
            parameter.copy_(RandomValues(name, parameter.shape, generator));
        }
    }

    /// <summary>Float32 values for the parameter <paramref name="name"/> of the given shape, drawn from <paramref name="generator"/>.</summary>
    public static Tensor RandomValues(string name, long[] shape, Generator generator)
    {
        if (shape.Length == 1 && IsNormScale(name))
            return (Spread * randn(shape, generator: generator)).add(One, One);
        if (shape.Length >= 2)
        {
            long fanIn = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            using var deviation = Math.Sqrt(fanIn).ToScalar();
            return randn(shape, generator: generator) / deviation;
        }
        return Spread * randn(shape, generator: generator);
    }

    private static bool IsNormScale(string name) =>
        name.EndsWith(".scale", StringComparison.Ordinal)
        || (name.Contains("norm", StringComparison.OrdinalIgnoreCase) && name.EndsWith(".weight", StringComparison.Ordinal));
}
