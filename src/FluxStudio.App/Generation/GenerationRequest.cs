using FluxStudio.Engine.Models;

namespace FluxStudio.App.Generation;

/// <summary>
/// A LoRA chosen for a generation and its scale: a file name in the LoRA folder (the UI and the API), or a full path
/// where the validator allows paths (the CLI).
/// </summary>
public sealed record LoraSelection(string Name, double Scale = 1.0);

/// <summary>
/// Everything needed to generate one image: the one request record of the studio. The UI, the REST API, the CLI and
/// "reuse these settings" all make it; <see cref="GenerationRequestValidator"/> checks it at each of those edges, and
/// <see cref="ImageGenerationService"/> is the only code that turns it into an image. Settings the engine decides
/// from the weights (steps and guidance when left empty, whether guidance applies at all) are not resolved here:
/// what is recorded is what the engine reports it ran.
/// </summary>
public sealed record GenerationRequest
{
    public const int DefaultSize = 1024;
    public const double DefaultControlNetStrength = 0.4;

    public required string Prompt { get; init; }

    /// <summary>The release asked for; the engine runs (and history records) the release the weights are.</summary>
    public FluxVariant Model { get; init; } = FluxVariant.Schnell;

    /// <summary>Bits per weight (4 or 8), or null for the model's own precision.</summary>
    public int? Quantize { get; init; }

    /// <summary>Denoising steps; null means the loaded model's default (4 for schnell, 20 for dev).</summary>
    public int? Steps { get; init; }

    /// <summary>0 picks a random seed when the image is made.</summary>
    public long Seed { get; init; }

    /// <summary>Distilled guidance, used by dev-style weights only; null means their default (3.5).</summary>
    public double? Guidance { get; init; }

    public int Width { get; init; } = DefaultSize;
    public int Height { get; init; } = DefaultSize;

    /// <summary>A local model folder or file to load instead of the named model.</summary>
    public string? ModelPath { get; init; }

    public IReadOnlyList<LoraSelection> Loras { get; init; } = [];

    public string? ControlNetImagePath { get; init; }
    public double ControlNetStrength { get; init; } = DefaultControlNetStrength;
    public bool ControlNetSaveCanny { get; init; }

    /// <summary>Write the JSON metadata sidecar next to the image.</summary>
    public bool Metadata { get; init; }

    /// <summary>
    /// The steps a progress display can show before the engine reports the real count, which it takes from the
    /// weights when <see cref="Steps"/> is empty.
    /// </summary>
    public int ExpectedSteps => Steps ?? Model.DefaultSteps();

    public bool UsesControlNet => !string.IsNullOrWhiteSpace(ControlNetImagePath);

    // Records compare lists by reference; requests are compared by value in tests and in the model cache.
    public bool Equals(GenerationRequest? other) =>
        other is not null
        && Prompt == other.Prompt && Model == other.Model && Quantize == other.Quantize && Steps == other.Steps
        && Seed == other.Seed && Guidance == other.Guidance && Width == other.Width && Height == other.Height
        && ModelPath == other.ModelPath && Loras.SequenceEqual(other.Loras)
        && ControlNetImagePath == other.ControlNetImagePath && ControlNetStrength == other.ControlNetStrength
        && ControlNetSaveCanny == other.ControlNetSaveCanny && Metadata == other.Metadata;

    public override int GetHashCode() => HashCode.Combine(Prompt, Model, Seed, Width, Height, Steps, Loras.Count);
}
