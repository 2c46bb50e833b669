using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// The image and what the engine actually ran to make it, read from the loaded model and the run rather than from the
/// request: enough to record it truthfully and to make it again.
/// </summary>
public sealed record FluxGenerationResult
{
    public required RgbImage Image { get; init; }

    /// <summary>The release the transformer's weights are, whatever name the model was asked for by.</summary>
    public required FluxVariant Variant { get; init; }

    public required ulong Seed { get; init; }

    public required int Steps { get; init; }

    /// <summary>The guidance scale the transformer received; null for schnell, which has no guidance input.</summary>
    public float? Guidance { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>The LoRAs attached during the run, at the scales they ran with.</summary>
    public IReadOnlyList<LoraUse> Loras { get; init; } = [];

    /// <summary>The bit width of the transformer's quantized layers; null when it ran unquantized.</summary>
    public int? QuantizationBits { get; init; }

    public required string Device { get; init; }

    public required string Precision { get; init; }

    public TimeSpan Duration { get; init; }

    /// <summary>What the engine changed or ignored from the request, in sentences for the user.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The ControlNet's edge map and settings, when the generation used one.</summary>
    public ControlNetRun? ControlNet { get; init; }
}

/// <summary>A LoRA file as it ran: its full path and scale.</summary>
public sealed record LoraUse(string Path, double Scale);
