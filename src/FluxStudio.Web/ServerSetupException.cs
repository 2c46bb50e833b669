namespace FluxStudio.Web;

/// <summary>A setting keeps the server from starting; the message says which and what to set instead.</summary>
public sealed class ServerSetupException(string message) : Exception(message);
