namespace FluxStudio.Web.Security;

/// <summary>Settings of the web server itself (section <c>FluxStudio:Web</c>).</summary>
public sealed class WebOptions
{
    public const string SectionName = "FluxStudio:Web";

    /// <summary>
    /// Required when the server listens on anything but loopback: clients send it as
    /// <c>Authorization: Bearer …</c>, or open the UI once with <c>?access_token=…</c> (kept in a cookie).
    /// </summary>
    public string? AccessToken { get; set; }

    /// <summary>
    /// Folders a client-given model path must lie in when the server listens beyond loopback.
    /// On loopback the user is on this machine and any path is honoured.
    /// </summary>
    public List<string> ModelFolders { get; set; } = [];

    /// <summary>The largest upload accepted, in bytes.</summary>
    public long MaxUploadBytes { get; set; } = 50L * 1024 * 1024;
}
