using FluxStudio.App.Generation;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FluxStudio.Web.Tests;

/// <summary>
/// The real server with its real services over a temporary data folder; only the image generator is replaced by
/// <see cref="TestImageGenerator"/>, which draws a plain image so the tests need no model.
/// </summary>
public class StudioFactory : WebApplicationFactory<Program>
{
    public StudioFactory()
    {
        DataRoot = Directory.CreateTempSubdirectory("fluxstudio-web-").FullName;
    }

    /// <summary>A server on the data folder of an earlier one, as after a restart.</summary>
    public StudioFactory(string dataRoot)
    {
        DataRoot = dataRoot;
    }

    public string DataRoot { get; }

    /// <summary>Leave the data folder when disposed, for a server started on it next.</summary>
    public bool KeepDataRoot { get; init; }

    public TestImageGenerator Generator { get; } = new();

    protected virtual IEnumerable<KeyValuePair<string, string?>> ExtraSettings() => [];

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var settings = new Dictionary<string, string?>
        {
            ["FluxStudio:DataRoot"] = DataRoot,
            ["FluxStudio:Queue:PollInterval"] = "00:00:00.200",
            ["Enhancer:Endpoint"] = "http://127.0.0.1:9/",
            ["BackgroundRemoval:ModelPath"] = Path.Combine(DataRoot, "no-such-model.onnx"),
        };
        foreach (var (key, value) in ExtraSettings())
            settings[key] = value;
        builder.ConfigureAppConfiguration((_, configuration) => configuration.AddInMemoryCollection(settings));
        builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<IImageGenerator>();
            services.AddSingleton<IImageGenerator>(Generator);
        });
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && !KeepDataRoot)
        {
            try
            {
                Directory.Delete(DataRoot, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>The server as it runs when bound to every interface: an access token and a model folder are configured.</summary>
public sealed class NetworkStudioFactory : StudioFactory
{
    public const string Token = "test-token-5f1c";

    public string ModelFolder => Path.Combine(DataRoot, "models");

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings() =>
    [
        new("Urls", "http://0.0.0.0:7860"),
        new("FluxStudio:Web:AccessToken", Token),
        new("FluxStudio:Web:ModelFolders:0", ModelFolder),
        new("FluxStudio:Web:MaxUploadBytes", "1024"),
    ];
}

/// <summary>The loopback server with a few more settings.</summary>
public sealed class StudioFactoryWith(params (string Key, string Value)[] settings) : StudioFactory
{
    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings() =>
        settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value));
}
