using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

/// <summary>The server as users run it (Production), for what the development defaults would hide.</summary>
public sealed class ProductionStudioFactory : StudioFactory
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseEnvironment("Production");
    }
}

public sealed class MalformedJsonTests : IDisposable
{
    private readonly ProductionStudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Theory]
    [InlineData("""{"prompt": "a fox", "width": "wide"}""", "width", "a whole number")]
    [InlineData("""{"prompt": "a fox", "guidance": true}""", "guidance", "a number")]
    [InlineData("""{"prompt": "a fox", "loras": [{"name": "a.safetensors", "scale": "strong"}]}""", "loras[0].scale", "wrong type")]
    [InlineData("""{"prompt": "a fox", "steps": }""", "steps", "malformed")]
    [InlineData("""{"prompt": "a fox",""", "body", "malformed")]
    public async Task MalformedJsonIsAProblemThatNamesTheField(string body, string field, string expected)
    {
        using var client = _factory.CreateClient();

        var response = await client.PostAsync("/api/generations", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Contains(expected, problem.GetProperty("errors").GetProperty(field)[0].GetString());
        Assert.DoesNotContain("System.", problem.ToString());
    }
}

/// <summary>
/// One upload limit, FluxStudio:Web:MaxUploadBytes, honoured by the real server (Kestrel's own request limit, the form
/// reader's limit and the endpoint), so a file the setting allows is never refused by a smaller limit underneath.
/// </summary>
public sealed class UploadLimitTests : IAsyncLifetime
{
    private const long Megabyte = 1024 * 1024;

    private readonly string _dataRoot = Directory.CreateTempSubdirectory("fluxstudio-upload-").FullName;
    private readonly List<WebApplication> _servers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
            await server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataRoot, recursive: true);
    }

    /// <summary>The real server (Kestrel) on a free loopback port.</summary>
    private async Task<HttpClient> StartAsync(params string[] settings)
    {
        var app = FluxStudioServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            $"--FluxStudio:DataRoot={Path.Combine(_dataRoot, _servers.Count.ToString())}",
            $"--BackgroundRemoval:ModelPath={Path.Combine(_dataRoot, "no-such-model.onnx")}",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ]);
        _servers.Add(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        // A refused body ends the connection; announcing the body (as curl and browsers do for large uploads) lets
        // the client read the refusal instead of failing mid-send with a broken pipe on a busy machine.
        var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.ExpectContinue = true;
        return client;
    }

    /// <summary>The remover's answer to bytes that only start like a PNG: the upload passed every size check.</summary>
    private const string ReachedTheRemover = "The background was not removed";

    /// <summary>Bytes that start like a PNG, so the upload check lets them through to the remover.</summary>
    private static byte[] PngLike(long length)
    {
        var bytes = new byte[length];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(bytes, 0);
        return bytes;
    }

    private static async Task<(HttpStatusCode Status, string Body)> UploadAsync(HttpClient client, long length)
    {
        var response = await client.PostAsync("/api/remove-background", ImageForm(PngLike(length)));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnUploadUnderTheDefaultLimitIsNotRefusedByTheServersOwnLimit()
    {
        using var client = await StartAsync();

        // 40 MB: over Kestrel's default request limit (30 MB), under the studio's 50 MB.
        var (status, body) = await UploadAsync(client, 40 * Megabyte);

        Assert.True(status != HttpStatusCode.RequestEntityTooLarge && body.Contains(ReachedTheRemover), $"{status}: {body}");
    }

    [Fact]
    public async Task TheSettingIsTheLimitForTheEndpointAndTheServerAlike()
    {
        using var client = await StartAsync("--FluxStudio:Web:MaxUploadBytes=1048576");

        var exactly = await UploadAsync(client, Megabyte);
        var justOver = await UploadAsync(client, Megabyte + 1);
        var farOver = await UploadAsync(client, 3 * Megabyte);
        var json = await client.PostAsync("/api/generations",
            new StringContent($$"""{"prompt": "{{new string('a', 2 * (int)Megabyte)}}"}""", Encoding.UTF8, "application/json"));

        Assert.Contains(ReachedTheRemover, exactly.Body);
        foreach (var (status, body) in new[] { justOver, farOver, (json.StatusCode, await json.Content.ReadAsStringAsync()) })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
            Assert.True(body.Contains("larger than 1 MB"), body);
            Assert.Contains("FluxStudio:Web:MaxUploadBytes", body);
        }
    }
}
