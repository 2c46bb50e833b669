using System.Net;
using System.Net.Sockets;

namespace FluxStudio.Web.Security;

/// <summary>
/// Where the server listens, judged from the URLs it binds: whether only this machine can reach it (then it needs no
/// access token), and which names a request's <c>Host</c> header may carry.
/// </summary>
/// <remarks>
/// <para>
/// Loopback means <c>localhost</c> and the whole loopback range, 127.0.0.0/8 and ::1, not 127.0.0.1 alone: every
/// address in the range is reachable from this machine only (the network stack never routes it elsewhere), so a token
/// on 127.0.0.2 would keep out no one that 127.0.0.1 lets in. What the token guards against is other machines.
/// </para>
/// <para>
/// Host filtering guards against DNS rebinding: a web page whose own name an attacker points at 127.0.0.1 reaches a
/// loopback server with that name in the <c>Host</c> header, and no token to stop it. So a server bound to loopback
/// answers to <c>localhost</c>, 127.0.0.1, [::1] and the addresses it is bound to; one bound to a particular address or
/// name answers to that too. A server bound to every interface (0.0.0.0, [::], *, +) needs its access token for every
/// request, which a rebinding page cannot send, and answers to any name, as a user reaching it by address, machine name
/// or through a proxy expects. The <c>AllowedHosts</c> setting (names separated by <c>;</c>) adds names to these.
/// The port is not compared: a request only reaches the server on a port it listens on.
/// </para>
/// </remarks>
public sealed record ListenScope(bool LoopbackOnly, IReadOnlyList<string> AllowedHosts)
{
    /// <summary>Names that always mean this machine, so no rebinding page can carry them; every server answers to them.</summary>
    public static readonly IReadOnlyList<string> LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>
    /// Judges every way Kestrel can be told where to listen: <c>Urls</c>, <c>Kestrel:Endpoints:*:Url</c> (which wins
    /// over <c>Urls</c>), and <c>HTTP_PORTS</c>/<c>HTTPS_PORTS</c> (all interfaces); adds the names in <c>AllowedHosts</c>.
    /// </summary>
    public static ListenScope FromConfiguration(IConfiguration configuration) =>
        FromUrls(ConfiguredUrls(configuration), (configuration["AllowedHosts"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public static ListenScope FromUrls(string? urls) =>
        FromUrls((urls ?? FluxStudioServer.DefaultUrl).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), []);

    /// <summary>The URLs the server will listen on, in Kestrel's order of precedence.</summary>
    public static IReadOnlyList<string> ConfiguredUrls(IConfiguration configuration)
    {
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"] ?? "").ToList();
        if (endpoints.Count > 0)
            return endpoints.Select(url => url.Length == 0 ? "http://*" : url).ToList();
        var urls = configuration["Urls"];
        if (!string.IsNullOrWhiteSpace(urls))
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ports = Ports(configuration["HTTP_PORTS"], "http").Concat(Ports(configuration["HTTPS_PORTS"], "https")).ToList();
        return ports.Count > 0 ? ports : [FluxStudioServer.DefaultUrl];
    }

    private static IEnumerable<string> Ports(string? ports, string scheme) =>
        (ports ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(port => $"{scheme}://*:{port}");

    private static ListenScope FromUrls(IReadOnlyList<string> urls, IEnumerable<string> extraHosts)
    {
        var hosts = new List<string>(LoopbackNames);
        var loopbackOnly = urls.Count > 0;
        foreach (var url in urls)
        {
            var host = HostOf(url);
            if (host is null)
            {
                // Every interface: reachable from the network, so the token guards every request and any name is accepted.
                loopbackOnly = false;
                hosts.Add("*");
                continue;
            }
            loopbackOnly &= IsLoopback(host);
            hosts.Add(host);
        }
        hosts.AddRange(extraHosts);
        return new ListenScope(loopbackOnly, hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList());
    }

    /// <summary>The host a URL binds, as a <c>Host</c> header carries it; null when it binds every interface.</summary>
    private static string? HostOf(string url)
    {
        // Kestrel's wildcards ("http://+:80", "http://*:80") do not parse as URIs and mean every interface.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return null;
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            return null;
        return uri.Host;
    }

    private static bool IsLoopback(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        if (!IPAddress.TryParse(host.Trim('[', ']'), out var address))
            return false;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        return IPAddress.IsLoopback(address);
    }
}
