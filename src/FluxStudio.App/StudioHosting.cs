namespace FluxStudio.App;

/// <summary>What the server and the CLI hosts share, so both read their settings from the same place.</summary>
public static class StudioHosting
{
    /// <summary>
    /// The content root, where <c>appsettings.json</c> is read from: <c>DOTNET_CONTENTROOT</c> when set (the generic
    /// host's own setting for it), else the folder the program is installed in, whatever the working directory.
    /// </summary>
    public static string ContentRoot =>
        Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT") is { Length: > 0 } configured ? Path.GetFullPath(configured) : AppContext.BaseDirectory;
}
