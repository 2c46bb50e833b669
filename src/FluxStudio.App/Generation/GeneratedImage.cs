using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// What an <see cref="IImageGenerator"/> returns: the image, with the engine's own account of the run it came from
/// (<see cref="Run"/>: the release the weights are, steps, guidance, seed, size, LoRAs, quantization, device,
/// precision, warnings), which is what the studio records.
/// </summary>
public sealed record GeneratedImage(FluxGenerationResult Run)
{
    public RgbImage Pixels => Run.Image;
}
