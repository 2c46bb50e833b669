using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// Random weights for models made from scratch (tiny test models): every matrix N(0, 1/fan_in), every bias and
/// shift N(0, 0.2²), every norm scale 1 + N(0, 0.2²), as the golden fixtures were made.
/// </summary>
public static class Initialization
{
    public static void Randomize(nn.Module module, Generator generator)
    {
        using var _ = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            using var scope = NewDisposeScope();
            var shape = parameter.shape;
            Tensor value;
            if (IsNormScale(name))
                value = 1 + 0.2 * randn(shape, generator: generator);
            else if (shape.Length >= 2)
            {
                long fanIn = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                value = randn(shape, generator: generator) / Math.Sqrt(fanIn);
            }
            else
                value = 0.2 * randn(shape, generator: generator);
            parameter.copy_(value);
        }
    }

    private static bool IsNormScale(string name) =>
        name.EndsWith(".scale", StringComparison.Ordinal)
        || (name.Contains("norm", StringComparison.OrdinalIgnoreCase) && name.EndsWith(".weight", StringComparison.Ordinal));
}
