using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Pipeline;

/// <summary>One request to the engine: text to image, or image to image with <see cref="InitImage"/>.</summary>
public sealed record FluxGenerationOptions
{
    public required string Prompt { get; init; }

    /// <summary>Denoising steps; null means the loaded model's default (<see cref="FluxVariants.DefaultSteps"/>).</summary>
    public int? Steps { get; init; }

    /// <summary>0 picks a random seed (<see cref="RandomSeed"/>), reported in the result.</summary>
    public ulong Seed { get; init; }

    /// <summary>Guidance scale for dev models (default <see cref="FluxVariants.DefaultGuidance"/>); schnell ignores it with a warning.</summary>
    public float? Guidance { get; init; }

    public int Width { get; init; } = 1024;

    public int Height { get; init; } = 1024;

    /// <summary>Send a small preview image with each step's progress.</summary>
    public bool Previews { get; init; }

    /// <summary>Guide the image by the edges of a reference picture, through the model's ControlNet; null for none.</summary>
    public ControlNetConditioning? ControlNet { get; init; }

    /// <summary>Start from this picture instead of pure noise (image to image); null for text to image.</summary>
    public InitImage? InitImage { get; init; }

    /// <summary>The studio's one random seed: 1 to 2³²−1, so it fits every tool that reads it back.</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(1, 1L << 32);
}
