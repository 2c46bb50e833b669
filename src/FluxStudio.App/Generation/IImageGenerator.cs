namespace FluxStudio.App.Generation;

/// <summary>
/// Turns a validated request into an image. The engine's pipeline implements it; the queue calls it one job
/// at a time per device. The request it receives already has its seed chosen and LoRA keywords applied.
/// </summary>
public interface IImageGenerator
{
    Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken ct);
}

/// <summary>Step <see cref="Step"/> of <see cref="TotalSteps"/> done, with an optional small PNG preview.</summary>
public sealed record GenerationProgress(int Step, int TotalSteps, byte[]? PreviewPng = null);
