using System.Net;

namespace FluxStudio.Web.Security;

/// <summary>Whether the server is reachable only from this machine, judged from the URLs it binds.</summary>
public sealed record ListenScope(bool LoopbackOnly)
{
    /// <summary>
    /// Judges every way Kestrel can be told where to listen: <c>Urls</c>, <c>Kestrel:Endpoints:*:Url</c> (which wins
    /// over <c>Urls</c>), and <c>HTTP_PORTS</c>/<c>HTTPS_PORTS</c> (all interfaces).
    /// </summary>
    public static ListenScope FromConfiguration(IConfiguration configuration)
    {
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"] ?? "").ToList();
        if (endpoints.Count > 0)
            return FromUrls(string.Join(';', endpoints.Select(u => u.Length == 0 ? "*" : u)));
        var urls = configuration["Urls"];
        if (string.IsNullOrWhiteSpace(urls) &&
            (!string.IsNullOrWhiteSpace(configuration["HTTP_PORTS"]) || !string.IsNullOrWhiteSpace(configuration["HTTPS_PORTS"])))
            return new ListenScope(false);
        return FromUrls(urls);
    }

    public static ListenScope FromUrls(string? urls)
    {
        var parts = (urls ?? FluxStudioServer.DefaultUrl).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new ListenScope(parts.Length > 0 && parts.All(IsLoopbackUrl));
    }

    private static bool IsLoopbackUrl(string url)
    {
        // Kestrel's wildcards ("http://+:80", "http://*:80") do not parse as URIs and mean every interface.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return false;
        if (string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }
}
