namespace FluxStudio.App.Generation;

/// <summary>A LoRA chosen for a generation: its file name inside the LoRA folder and its scale.</summary>
public sealed record LoraSelection(string Name, double Scale = 1.0);

/// <summary>
/// Everything needed to generate one image. The same record comes from the UI, the REST API, the CLI and
/// "reuse these settings"; <see cref="GenerationRequestValidator"/> checks it at each of those edges.
/// </summary>
public sealed record GenerationRequest
{
    public const int DefaultSize = 1024;
    public const double DefaultGuidance = 3.5;
    public const double DefaultControlNetStrength = 0.4;

    public required string Prompt { get; init; }
    public FluxModel Model { get; init; } = FluxModel.Schnell;

    /// <summary>Bits per weight (4 or 8), or null for the model's own precision.</summary>
    public int? Quantize { get; init; }

    /// <summary>Denoising steps; null means the model's default (4 for schnell, 20 for dev).</summary>
    public int? Steps { get; init; }

    /// <summary>0 picks a random seed when the job runs.</summary>
    public long Seed { get; init; }

    /// <summary>Distilled guidance, used by dev only; null means 3.5.</summary>
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

    public int EffectiveSteps => Steps ?? Model.DefaultSteps();

    /// <summary>The guidance the model uses: null for schnell, which has no guidance input.</summary>
    public double? EffectiveGuidance => Model == FluxModel.Dev ? Guidance ?? DefaultGuidance : null;

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
