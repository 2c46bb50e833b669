using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

public static class TimestepEmbedding
{
    /// <summary>
    /// Sinusoidal embedding of t ∈ [0, 1] (or of a guidance scale): t is first multiplied by 1000, then
    /// [cos(t·fᵢ) | sin(t·fᵢ)] with fᵢ = exp(−ln(10000)·i/half), cosines first, computed in float32.
    /// </summary>
    public static Tensor Sinusoidal(Tensor t, int dim = 256, double maxPeriod = 10_000, double timeFactor = 1000)
    {
        using var scope = NewDisposeScope();
        int half = dim / 2;
        using var halfScalar = half.ToScalar();
        using var logPeriod = (-Math.Log(maxPeriod)).ToScalar();
        using var timeScale = ((float)timeFactor).ToScalar();
        var frequencies = exp(arange(Zero, halfScalar, ScalarType.Float32, t.device) * logPeriod / halfScalar);
        var args = (t.to(ScalarType.Float32) * timeScale).unsqueeze(1) * frequencies.unsqueeze(0);
        return cat([cos(args), sin(args)], -1).MoveToOuterDisposeScope();
    }
}
