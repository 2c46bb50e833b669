using FluxStudio.Engine.ControlNet;

namespace FluxStudio.Engine.Pipeline;

/// <summary>The image and everything needed to make it again.</summary>
public sealed record FluxGenerationResult(
    RgbImage Image,
    ulong Seed,
    int Steps,
    float? Guidance,
    int Width,
    int Height,
    string Device,
    string Precision,
    TimeSpan Duration,
    IReadOnlyList<string> Warnings)
{
    /// <summary>The ControlNet's edge map and settings, when the generation used one.</summary>
    public ControlNetRun? ControlNet { get; init; }
}
