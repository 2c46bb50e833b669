using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// Runs the engine for a request: <see cref="FluxImageGenerator"/> on the FLUX.1 pipeline, a stand-in in tests.
/// <see cref="ImageGenerationService"/> calls it with the request already prepared (every seed of the batch chosen in
/// <see cref="GenerationRequest.Seeds"/>, LoRA keywords in the prompt, LoRA names resolved to full paths) and records
/// what each returned result says the engine ran.
/// </summary>
public interface IImageGenerator
{
    /// <summary>One image per seed of <see cref="GenerationRequest.Seeds"/>, in order, each as soon as it is made.</summary>
    IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken ct);
}

/// <summary>
/// Step <see cref="Step"/> of <see cref="TotalSteps"/> of <see cref="Stage"/> for image <see cref="Image"/> of
/// <see cref="Images"/>, with an optional small PNG preview while denoising, or a model download's progress while loading.
/// Image to image starts at the step its strength skips to.
/// </summary>
public sealed record GenerationProgress(int Step, int TotalSteps, byte[]? PreviewPng = null)
{
    public GenerationStage Stage { get; init; } = GenerationStage.Denoising;

    /// <summary>Which image of the batch, from 1.</summary>
    public int Image { get; init; } = 1;

    /// <summary>How many images the batch makes.</summary>
    public int Images { get; init; } = 1;

    /// <summary>While <see cref="GenerationStage.LoadingModel"/>: the download of a model that was not on disk yet.</summary>
    public DownloadProgress? Download { get; init; }
}
