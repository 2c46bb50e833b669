using System.Net;

namespace FluxStudio.Web.Security;

/// <summary>Whether the server is reachable only from this machine, judged from the URLs it binds.</summary>
public sealed record ListenScope(bool LoopbackOnly)
{
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
