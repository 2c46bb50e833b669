using FluxStudio.Engine.ControlNet;

namespace FluxStudio.Engine.Pipeline;

/// <summary>One text-to-image request to the engine.</summary>
public sealed record FluxGenerationOptions
{
    public const int MaxSide = 4096;
    public const float DefaultGuidance = 3.5f;

    public required string Prompt { get; init; }

    /// <summary>Denoising steps; null means 4 for schnell, 20 for dev.</summary>
    public int? Steps { get; init; }

    /// <summary>0 picks a random seed in 1..2³²−1 (reported in the result).</summary>
    public ulong Seed { get; init; }

    /// <summary>Guidance scale for dev models (default 3.5); schnell ignores it with a warning.</summary>
    public float? Guidance { get; init; }

    public int Width { get; init; } = 1024;

    public int Height { get; init; } = 1024;

    /// <summary>Send a small preview image with each step's progress.</summary>
    public bool Previews { get; init; }

    /// <summary>Guide the image by the edges of a reference picture, through the model's ControlNet; null for none.</summary>
    public ControlNetConditioning? ControlNet { get; init; }
}
