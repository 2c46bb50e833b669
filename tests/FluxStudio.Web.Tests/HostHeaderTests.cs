using System.Net;
using System.Net.Http.Headers;
using FluxStudio.Web.Security;
using Microsoft.Extensions.Configuration;

namespace FluxStudio.Web.Tests;

/// <summary>
/// DNS rebinding: a page on an attacker's name that resolves to 127.0.0.1 reaches a loopback server with that name in
/// the Host header. A loopback server answers only to its own names.
/// </summary>
public sealed class HostHeaderTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static async Task<HttpStatusCode> GetWithHostAsync(HttpClient client, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/history");
        request.Headers.Host = host;
        return (await client.SendAsync(request)).StatusCode;
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:7860")]
    [InlineData("127.0.0.1:7860")]
    [InlineData("[::1]:7860")]
    public async Task ALoopbackServerAnswersToItsOwnNames(string host)
    {
        using var client = _factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, await GetWithHostAsync(client, host));
    }

    [Theory]
    [InlineData("attacker.example")]
    [InlineData("attacker.example:7860")]
    [InlineData("127.0.0.1.attacker.example:7860")]
    [InlineData("localhost.attacker.example")]
    public async Task ALoopbackServerRefusesOtherNames(string host)
    {
        using var client = _factory.CreateClient();
        Assert.Equal(HttpStatusCode.BadRequest, await GetWithHostAsync(client, host));
    }

    [Fact]
    public async Task AServerOnEveryInterfaceAnswersToAnyNameWithItsToken()
    {
        using var factory = new NetworkStudioFactory();
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", NetworkStudioFactory.Token);
        Assert.Equal(HttpStatusCode.OK, await GetWithHostAsync(client, "studio-machine.lan:7860"));
    }

    private static ListenScope Scope(params (string Key, string Value)[] settings) => ListenScope.FromConfiguration(
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void TheAllowedNamesFollowTheBoundAddressesAndTheSetting()
    {
        Assert.Equal(["localhost", "127.0.0.1", "[::1]"], Scope(("Urls", "http://127.0.0.1:7860")).AllowedHosts);
        Assert.Equal(["localhost", "127.0.0.1", "[::1]", "127.0.0.2"], Scope(("Urls", "http://127.0.0.2:7861")).AllowedHosts);
        Assert.Equal(["localhost", "127.0.0.1", "[::1]", "192.168.1.5"], Scope(("Urls", "http://192.168.1.5:7860")).AllowedHosts);
        Assert.Contains("*", Scope(("Urls", "http://0.0.0.0:7860")).AllowedHosts);
        Assert.Contains("*", Scope(("Urls", "http://[::]:7860")).AllowedHosts);
        Assert.Contains("*", Scope(("HTTP_PORTS", "8080")).AllowedHosts);
        Assert.Equal(["localhost", "127.0.0.1", "[::1]", "studio.lan", "*.studio.lan"],
            Scope(("Urls", "http://127.0.0.1:7860"), ("AllowedHosts", "studio.lan; *.studio.lan")).AllowedHosts);
    }

    [Fact]
    public async Task ANameInAllowedHostsIsAnswered()
    {
        using var factory = new StudioFactoryWith(("AllowedHosts", "studio.lan"));
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, await GetWithHostAsync(client, "studio.lan:7860"));
        Assert.Equal(HttpStatusCode.BadRequest, await GetWithHostAsync(client, "other.lan:7860"));
    }
}
