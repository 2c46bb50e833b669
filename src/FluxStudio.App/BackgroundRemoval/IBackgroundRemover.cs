namespace FluxStudio.App.BackgroundRemoval;

/// <summary>
/// Cuts the subject of an image out onto a transparent background. Made to sit behind
/// <c>POST /api/remove-background</c>: request body in, <see cref="BackgroundRemovalResult.Png"/> out, and a
/// <see cref="BackgroundRemovalException"/> mapped by <see cref="BackgroundRemovalException.IsCallerError"/>.
/// </summary>
public interface IBackgroundRemover
{
    /// <summary>Reads an encoded image (PNG, JPEG, WebP, …) and returns the cut-out and its mask as PNG bytes.</summary>
    /// <exception cref="BackgroundRemovalException">The image or the model is unusable; the message says what to do.</exception>
    Task<BackgroundRemovalResult> RemoveAsync(Stream image, IProgress<BackgroundRemovalProgress>? progress, CancellationToken cancellationToken);
}

public static class BackgroundRemoverExtensions
{
    public static Task<BackgroundRemovalResult> RemoveAsync(this IBackgroundRemover remover, Stream image, CancellationToken cancellationToken) =>
        remover.RemoveAsync(image, progress: null, cancellationToken);
}

public enum BackgroundRemovalStage
{
    ReadingImage,
    /// <summary>Only slow the first time: the model is kept afterwards.</summary>
    LoadingModel,
    RunningModel,
    Encoding,
}

/// <summary>Step <see cref="Step"/> of <see cref="StepCount"/> has started.</summary>
public sealed record BackgroundRemovalProgress(BackgroundRemovalStage Stage, int Step, int StepCount);
