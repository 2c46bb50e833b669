namespace FluxStudio.Engine.Models;

/// <summary>A download from the Hub failed; the message says what to do. Finished files stay in the cache.</summary>
public class HubDownloadException : Exception
{
    public HubDownloadException(string message) : base(message) { }

    public HubDownloadException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The Hub answered 401 or 403: a gated model whose licence was not accepted, or a missing or wrong token.</summary>
public sealed class HubAccessDeniedException(string message, int statusCode) : HubDownloadException(message)
{
    public int StatusCode { get; } = statusCode;
}
