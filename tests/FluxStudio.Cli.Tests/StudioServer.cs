using FluxStudio.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Tests;

/// <summary>The real server, in this process, on a free loopback port over a given data root, with the real engine on the CPU.</summary>
public sealed class StudioServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StudioServer(WebApplication app, HttpClient client) => (_app, Client) = (app, client);

    public HttpClient Client { get; }

    /// <param name="hubCache">The Hugging Face cache to look in; an empty folder keeps the machine's own cache out of the test.</param>
    public static async Task<StudioServer> StartAsync(string dataRoot, string hubCache)
    {
        var app = FluxStudioServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            $"--FluxStudio:DataRoot={dataRoot}",
            "--FluxStudio:Queue:PollInterval=00:00:00.200",
            "--FluxStudio:Engine:Device=cpu",
            "--FluxStudio:Engine:Precision=fp32",
            $"--Models:CacheDirectory={hubCache}",
            "--Models:AllowDownload=false",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new StudioServer(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
