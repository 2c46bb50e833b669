using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.Configuration;
using FluxStudio.Web.Security;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

public sealed class NetworkBindingTests : IDisposable
{
    private readonly NetworkStudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private HttpClient AuthorizedClient()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", NetworkStudioFactory.Token);
        return client;
    }

    [Theory]
    [InlineData("/api/history")]
    [InlineData("/")]
    [InlineData("/openapi/v1.json")]
    public async Task EveryRequestNeedsTheAccessToken(string url)
    {
        using var client = _factory.CreateClient();
        var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("access token", (await ProblemAsync(response)).GetProperty("detail").GetString());

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(url)).StatusCode);
    }

    [Fact]
    public async Task TheTokenInTheAddressOpensTheUiAndIsKeptInACookie()
    {
        using var client = _factory.CreateClient();
        var first = await client.GetAsync($"/?access_token={NetworkStudioFactory.Token}");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/history")).StatusCode);
    }

    [Theory]
    [InlineData("../../../etc")]
    [InlineData("/etc")]
    [InlineData("models/../../..")]
    public async Task ModelPathsOutsideTheModelFoldersAreRefused(string path)
    {
        Directory.CreateDirectory(_factory.ModelFolder);
        using var client = AuthorizedClient();
        var absolute = path.StartsWith('/') ? path : Path.Combine(_factory.DataRoot, path);
        var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", width = 48, height = 32, path = absolute });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = (await ProblemAsync(response)).GetProperty("errors").GetProperty("path")[0].GetString();
        Assert.Contains("inside one of the configured model folders", message);
    }

    [Fact]
    public async Task ASymbolicLinkInsideTheModelFolderCannotLeadOutOfIt()
    {
        Directory.CreateDirectory(_factory.ModelFolder);
        var link = Path.Combine(_factory.ModelFolder, "escape");
        Directory.CreateSymbolicLink(link, "/etc");
        using var client = AuthorizedClient();
        var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", width = 48, height = 32, path = link });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await ProblemAsync(response)).GetProperty("errors").TryGetProperty("path", out _));
    }

    [Fact]
    public async Task AModelPathInsideTheModelFoldersIsAccepted()
    {
        var model = Path.Combine(_factory.ModelFolder, "tiny");
        Directory.CreateDirectory(model);
        using var client = AuthorizedClient();
        var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", width = 48, height = 32, path = model });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task UploadsAreLimitedInSize()
    {
        using var client = AuthorizedClient();
        var big = new byte[4096];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(big);
        var response = await client.PostAsync("/api/remove-background", ImageForm(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("larger than", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }
}

public sealed class ListenScopeTests
{
    [Theory]
    [InlineData("http://127.0.0.1:7860", true)]
    // The whole loopback range counts: 127.0.0.2 is no more reachable from another machine than 127.0.0.1.
    [InlineData("http://127.0.0.2:7861", true)]
    [InlineData("http://[::ffff:127.0.0.1]:7860", true)]
    [InlineData("http://localhost:5000", true)]
    [InlineData("http://[::1]:7860", true)]
    [InlineData("http://127.0.0.1:7860;http://[::1]:7860", true)]
    [InlineData("http://0.0.0.0:7860", false)]
    [InlineData("http://+:80", false)]
    [InlineData("http://*:7860", false)]
    [InlineData("http://192.168.1.5:7860", false)]
    [InlineData("http://127.0.0.1:7860;http://0.0.0.0:7861", false)]
    public void OnlyLoopbackAddressesCountAsLocal(string urls, bool loopback) =>
        Assert.Equal(loopback, ListenScope.FromUrls(urls).LoopbackOnly);

    [Theory]
    [InlineData("Kestrel:Endpoints:Http:Url", "http://0.0.0.0:7860", false)]
    [InlineData("Kestrel:Endpoints:Http:Url", "http://127.0.0.1:7860", true)]
    [InlineData("Urls", "http://127.0.0.1:7860", true)]
    [InlineData("HTTP_PORTS", "8080", false)]
    public void KestrelEndpointsAndPortsAreJudgedToo(string key, string value, bool loopback)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        Assert.Equal(loopback, ListenScope.FromConfiguration(configuration).LoopbackOnly);
    }

    [Fact]
    public void AKestrelEndpointBindingEverywhereOverridesALoopbackUrl()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Urls"] = "http://127.0.0.1:7860",
                ["Kestrel:Endpoints:Public:Url"] = "http://*:80",
            }).Build();
        Assert.False(ListenScope.FromConfiguration(configuration).LoopbackOnly);
    }
}
