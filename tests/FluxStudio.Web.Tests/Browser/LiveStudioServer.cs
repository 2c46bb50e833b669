using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.TinyModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>
/// The real server on a free loopback port with the real FLUX engine on a tiny model (behind a gate the tests can
/// close) and the controlnet-tiny fixture's ControlNet, a temporary data folder, and Debian's chromium driven by
/// Playwright. One per test run, shared by the tests
/// of the browser collection, which run one after another.
/// </summary>
public sealed class LiveStudioServer : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private WebApplication? _app;

    /// <summary>A loopback server that answers like Ollama, for the Prompt Enhancer tab.</summary>
    public FluxStudio.App.Tests.Enhancement.FakeOllamaServer Ollama { get; private set; } = null!;
    private IPlaywright? _playwright;

    public string DataRoot { get; } = Directory.CreateTempSubdirectory("fluxstudio-browser-").FullName;

    public string TinyModel => Path.Combine(DataRoot, "models", "tiny-schnell");

    public string BaseUrl { get; private set; } = "";

    public IBrowser Browser { get; private set; } = null!;

    public string LoraFolder => Path.Combine(DataRoot, "lora");

    /// <summary>Holds jobs at their start while closed.</summary>
    public GatedImageGenerator Gate { get; private set; } = null!;

    /// <summary>Where screenshots of each tab are saved.</summary>
    public static string ScreenshotFolder => TestPaths.Screenshots;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException(
                $"The browser tests need Debian's chromium at {ChromiumPath}: run 'apt-get install --no-install-recommends chromium' (test.sh does).");
        TinyModelWriter.Write(TinyModel, dev: false, seed: 7);
        Ollama = await FluxStudio.App.Tests.Enhancement.FakeOllamaServer.StartAsync();
        _app = FluxStudioServer.Build(
        [
            "--urls", "http://127.0.0.1:0",
            $"--FluxStudio:DataRoot={DataRoot}",
            "--FluxStudio:Engine:Device=cpu",
            "--FluxStudio:Engine:Precision=fp32",
            "--Models:AllowDownload=false",
            $"--FluxStudio:Engine:ControlNetPath={ControlNetFixture.ControlNetFolder}",
            $"--Enhancer:Endpoint={Ollama.Endpoint}",
            "--Logging:LogLevel:Default=Warning",
        ], services =>
        {
            services.AddSingleton(sp => new GatedImageGenerator(sp.GetRequiredService<FluxImageGenerator>()));
            services.AddSingleton<IImageGenerator>(sp => sp.GetRequiredService<GatedImageGenerator>());
        });
        await _app.StartAsync();
        Gate = _app.Services.GetRequiredService<GatedImageGenerator>();
        BaseUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotFolder);
    }

    /// <summary>
    /// A new page on the studio, in a browser context of its own (its own local storage), once its circuit is connected
    /// and clicks are handled. The window is 1280 × 800 unless said otherwise.
    /// </summary>
    public async Task<IPage> OpenStudioAsync(int width = 1280, int height = 800, ColorScheme colorScheme = ColorScheme.Light)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = colorScheme,
            AcceptDownloads = true,
        });
        var console = new List<string>();
        page.Console += (_, message) => console.Add($"{message.Type}: {message.Text}");
        page.PageError += (_, error) => console.Add($"error: {error}");
        await page.GotoAsync(BaseUrl);
        await WaitUntilInteractiveAsync(page, console);
        return page;
    }

    /// <summary>Reloads the page and waits, as <see cref="OpenStudioAsync"/> does, until it is interactive again.</summary>
    public static async Task ReloadAsync(IPage page)
    {
        await page.ReloadAsync();
        await WaitUntilInteractiveAsync(page, []);
    }

    private static async Task WaitUntilInteractiveAsync(IPage page, List<string> console)
    {
        try
        {
            await page.WaitForSelectorAsync("[data-testid=ready][data-interactive=true]",
                new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached, Timeout = 60_000 });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException("The page did not become interactive. Browser console:\n" + string.Join("\n", console), ex);
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        _playwright?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        if (Ollama is not null)
            await Ollama.DisposeAsync();
        try
        {
            Directory.Delete(DataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
