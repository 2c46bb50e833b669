namespace FluxStudio.App.Background;

/// <summary>Cuts the subject of an image out onto a transparent background.</summary>
public interface IBackgroundRemover
{
    /// <summary>Reads an encoded image (PNG, JPEG, WebP, …) and returns the cut-out and its mask as PNG bytes.</summary>
    /// <exception cref="BackgroundRemovalException">The image or the model is unusable; the message says what to do.</exception>
    Task<BackgroundRemovalResult> RemoveAsync(Stream image, CancellationToken cancellationToken);
}
