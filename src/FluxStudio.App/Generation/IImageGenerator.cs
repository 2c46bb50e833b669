using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// Runs the engine for a request: <see cref="FluxImageGenerator"/> on the FLUX.1 pipeline, a stand-in in tests.
/// <see cref="ImageGenerationService"/> calls it with the request already prepared (seed chosen, LoRA keywords in
/// the prompt, LoRA names resolved to full paths) and records what the returned result says the engine ran.
/// </summary>
public interface IImageGenerator
{
    Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken ct);
}

/// <summary>
/// Step <see cref="Step"/> of <see cref="TotalSteps"/> of <see cref="Stage"/>, with an optional small PNG preview while
/// denoising, or a model download's progress while loading.
/// </summary>
public sealed record GenerationProgress(int Step, int TotalSteps, byte[]? PreviewPng = null)
{
    public GenerationStage Stage { get; init; } = GenerationStage.Denoising;

    /// <summary>While <see cref="GenerationStage.LoadingModel"/>: the download of a model that was not on disk yet.</summary>
    public DownloadProgress? Download { get; init; }
}
