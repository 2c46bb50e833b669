using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// What a generator returns: the image (raw pixels or an encoded PNG) and the facts of how it was made.
/// </summary>
public sealed record GeneratedImage
{
    /// <summary>Raw pixels; set this or <see cref="Png"/>.</summary>
    public RgbImage? Pixels { get; init; }

    /// <summary>An encoded PNG; set this or <see cref="Pixels"/>.</summary>
    public byte[]? Png { get; init; }

    public required long Seed { get; init; }

    /// <summary>The prompt the model saw (with LoRA keywords).</summary>
    public required string Prompt { get; init; }

    public required string Device { get; init; }

    /// <summary>The compute precision, e.g. <c>bfloat16</c>.</summary>
    public required string Precision { get; init; }

    public TimeSpan GenerationTime { get; init; }
}
