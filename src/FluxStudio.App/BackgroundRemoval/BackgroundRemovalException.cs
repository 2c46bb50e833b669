namespace FluxStudio.App.BackgroundRemoval;

/// <summary>What went wrong, so a caller can choose a status code (bad upload vs. missing model) without parsing text.</summary>
public enum BackgroundRemovalError
{
    ModelNotFound,
    InvalidModel,
    InvalidImage,
    ImageTooLarge,
    ExecutionProviderUnavailable,
    InferenceFailed,
}

/// <summary>A failure of background removal whose message tells a person what to do.</summary>
public sealed class BackgroundRemovalException : Exception
{
    public BackgroundRemovalException(BackgroundRemovalError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    public BackgroundRemovalError Error { get; }

    /// <summary>True when the request itself was at fault (HTTP 4xx), false when the server's setup is (HTTP 5xx).</summary>
    public bool IsCallerError => Error is BackgroundRemovalError.InvalidImage or BackgroundRemovalError.ImageTooLarge;
}
