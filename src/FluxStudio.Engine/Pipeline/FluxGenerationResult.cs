using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// The image and what the engine actually ran to make it, read from the loaded model and the run rather than from the
/// request: enough to record it truthfully and to make it again.
/// </summary>
/// <param name="Guidance">The guidance scale the transformer received; null for schnell, which has no guidance input.</param>
/// <param name="Warnings">What the engine changed or ignored from the request, in sentences for the user.</param>
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
    /// <summary>The release the transformer's weights are, whatever name the model was asked for by.</summary>
    public required FluxVariant Variant { get; init; }

    /// <summary>The LoRAs attached during the run, at the scales they ran with.</summary>
    public IReadOnlyList<LoraUse> Loras { get; init; } = [];

    /// <summary>The bit width of the transformer's quantized layers; null when it ran unquantized.</summary>
    public int? QuantizationBits { get; init; }

    /// <summary>The ControlNet's edge map and settings, when the generation used one.</summary>
    public ControlNetRun? ControlNet { get; init; }

    /// <summary>The start image's strength and first step, when the generation started from a picture.</summary>
    public InitImageRun? InitImage { get; init; }
}

/// <summary>A LoRA file as it ran: its full path and scale.</summary>
public sealed record LoraUse(string Path, double Scale);
