using static TorchSharp.torch;

namespace FluxStudio.Engine.Sampling;

/// <summary>
/// The starting noise for a seed, drawn as the reference does: torch.randn in bfloat16 from a CPU generator
/// seeded with the seed, then widened to float32. Always drawn on the CPU, so a seed gives the same image
/// start on every device.
/// </summary>
public static class SeededNoise
{
    /// <param name="channels">Latent channels (16 for FLUX.1).</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="downsampleFactor">The VAE's factor f (8 for FLUX.1); the latent is 2·⌈H/2f⌉ × 2·⌈W/2f⌉.</param>
    public static Tensor Draw(ulong seed, int channels, int height, int width, int downsampleFactor, Device? device = null)
    {
        long rows = 2 * (long)Math.Ceiling(height / (2.0 * downsampleFactor));
        long columns = 2 * (long)Math.Ceiling(width / (2.0 * downsampleFactor));
        using var generator = new Generator(seed, CPU);
        using var noise = randn([1, channels, rows, columns], ScalarType.BFloat16, CPU, generator: generator);
        return noise.to(ScalarType.Float32, device ?? CPU);
    }
}
