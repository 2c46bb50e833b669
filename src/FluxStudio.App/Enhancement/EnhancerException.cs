namespace FluxStudio.App.Enhancement;

/// <summary>What went wrong, so callers can react (an HTTP status, an exit code) without reading the message.</summary>
public enum EnhancerErrorKind
{
    /// <summary>The request itself is incomplete or contradictory (no model, no text and no image, ...).</summary>
    InvalidRequest,

    /// <summary>Nothing answers at the endpoint: the server is not running or the address is wrong.</summary>
    ServerUnavailable,

    /// <summary>The server does not have the model.</summary>
    UnknownModel,

    /// <summary>The server answered, but not in the expected API (wrong endpoint, a proxy page, an error status).</summary>
    BadReply,

    /// <summary>The server stopped before the answer was complete.</summary>
    Interrupted,

    /// <summary>The server stayed silent longer than the configured time-out.</summary>
    TimedOut,
}

/// <summary>A prompt-enhancer failure whose message tells the user what happened and what to do.</summary>
public sealed class EnhancerException : Exception
{
    public EnhancerException(EnhancerErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public EnhancerErrorKind Kind { get; }
}
