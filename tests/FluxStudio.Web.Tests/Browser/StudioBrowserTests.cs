using Microsoft.Playwright;

namespace FluxStudio.Web.Tests.Browser;

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<LiveStudioServer>
{
    public const string Name = "browser";
}

/// <summary>The studio in a real browser, generating with the real engine on a tiny model.</summary>
[Collection(BrowserCollection.Name)]
public sealed class StudioBrowserTests(LiveStudioServer server)
{
    private static readonly LocatorAssertionsToBeVisibleOptions Long = new() { Timeout = 120_000 };

    private static ILocator ByTestId(IPage page, string id) => page.Locator($"[data-testid=\"{id}\"]");

    // Blazor's @bind listens to "change", which a browser fires when a field loses focus; fire it at once.
    private static async Task SetAsync(IPage page, string testId, string value)
    {
        var field = ByTestId(page, testId);
        await field.FillAsync(value);
        await field.DispatchEventAsync("change");
    }

    private static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(LiveStudioServer.ScreenshotFolder, name + ".png"), FullPage = true });

    [Fact]
    public async Task GeneratesWithProgressThenFindsOpensAndDeletesTheImageInHistory()
    {
        var page = await server.OpenStudioAsync();
        await SetAsync(page, "prompt", "a tiny lighthouse in the fog");
        await SetAsync(page, "steps", "2");
        await SetAsync(page, "seed", "1234");
        await SetAsync(page, "width", "48");
        await SetAsync(page, "height", "32");
        await SetAsync(page, "model-path", server.TinyModel);
        await ByTestId(page, "generate").ClickAsync();

        await Assertions.Expect(ByTestId(page, "result")).ToBeVisibleAsync(Long);
        await Assertions.Expect(ByTestId(page, "progress-text")).ToHaveTextAsync("step 2 of 2");
        await Assertions.Expect(ByTestId(page, "progress-bar")).ToHaveAttributeAsync("value", "2");
        await Assertions.Expect(ByTestId(page, "preview")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^data:image/png;base64,"));
        var image = await page.EvaluateAsync<int[]>(
            "() => { const i = document.querySelector('[data-testid=result]'); return [i.naturalWidth, i.naturalHeight]; }");
        Assert.Equal([48, 32], image);
        await ScreenshotAsync(page, "generate");

        await ByTestId(page, "tab-history").ClickAsync();
        // Other tests in this collection share the server; find this test's image by its prompt.
        var thumb = page.Locator("[data-testid^=\"history-item-\"][title=\"a tiny lighthouse in the fog\"]");
        await Assertions.Expect(thumb).ToHaveCountAsync(1);
        await thumb.ClickAsync();
        var details = ByTestId(page, "history-details-text");
        await Assertions.Expect(details).ToContainTextAsync("Prompt: a tiny lighthouse in the fog");
        await Assertions.Expect(details).ToContainTextAsync("Seed: 1234");
        await ScreenshotAsync(page, "history");

        await ByTestId(page, "history-reuse").ClickAsync();
        await Assertions.Expect(ByTestId(page, "panel-generate")).ToBeVisibleAsync();
        await Assertions.Expect(ByTestId(page, "prompt")).ToHaveValueAsync("a tiny lighthouse in the fog");
        await Assertions.Expect(ByTestId(page, "seed")).ToHaveValueAsync("1234");
        await Assertions.Expect(ByTestId(page, "width")).ToHaveValueAsync("48");
        await ByTestId(page, "tab-history").ClickAsync();

        await ByTestId(page, "history-delete").ClickAsync();
        await Assertions.Expect(ByTestId(page, "history-confirm")).ToBeVisibleAsync();
        await ByTestId(page, "history-confirm-delete").ClickAsync();
        await Assertions.Expect(ByTestId(page, "history-message")).ToContainTextAsync("Deleted image");
        await Assertions.Expect(thumb).ToHaveCountAsync(0);
        await Assertions.Expect(ByTestId(page, "history-details")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task TheEnhancerAdaptsToVisionModelsStreamsAndHandsItsPromptToGenerate()
    {
        var page = await server.OpenStudioAsync();
        await ByTestId(page, "tab-enhance").ClickAsync();
        var model = ByTestId(page, "enhance-model");
        await Assertions.Expect(model.Locator("option")).ToHaveCountAsync(2);

        await model.SelectOptionAsync("llava:7b");
        await Assertions.Expect(ByTestId(page, "enhance")).ToHaveTextAsync("Describe image as prompt");
        await Assertions.Expect(ByTestId(page, "enhance-image")).ToBeVisibleAsync();

        await model.SelectOptionAsync("llama3.2:latest");
        await Assertions.Expect(ByTestId(page, "enhance")).ToHaveTextAsync("Enhance prompt");
        await Assertions.Expect(ByTestId(page, "enhance-image")).ToHaveCountAsync(0);
        await SetAsync(page, "enhance-text", "a fox");
        await ByTestId(page, "enhance").ClickAsync();
        await Assertions.Expect(ByTestId(page, "enhance-result")).ToHaveValueAsync("A red fox in fresh snow.", new() { Timeout = 60_000 });
        await ScreenshotAsync(page, "enhance");

        await ByTestId(page, "enhance-use").ClickAsync();
        await Assertions.Expect(ByTestId(page, "panel-generate")).ToBeVisibleAsync();
        await Assertions.Expect(ByTestId(page, "prompt")).ToHaveValueAsync("A red fox in fresh snow.");
    }

    [Fact]
    public async Task GuidanceIsHiddenForSchnellAndShownForDev()
    {
        var page = await server.OpenStudioAsync();
        await Assertions.Expect(ByTestId(page, "guidance")).ToHaveCountAsync(0);
        await ByTestId(page, "model").SelectOptionAsync("dev");
        await Assertions.Expect(ByTestId(page, "guidance")).ToBeVisibleAsync();
        await Assertions.Expect(ByTestId(page, "guidance")).ToHaveValueAsync("3.5");
        await ByTestId(page, "model").SelectOptionAsync("schnell");
        await Assertions.Expect(ByTestId(page, "guidance")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task AnInvalidValueShowsAReadableMessageNextToItsField()
    {
        var page = await server.OpenStudioAsync();
        await SetAsync(page, "prompt", "a fox");
        await SetAsync(page, "width", "50");
        // The size rule is the model's: the tiny model's VAE downscales by 2, so sizes are multiples of 4.
        await SetAsync(page, "model-path", server.TinyModel);
        await ByTestId(page, "generate").ClickAsync();

        var error = ByTestId(page, "error-Width");
        await Assertions.Expect(error).ToHaveTextAsync("Width must be a multiple of 4; 50 is not. Try 48 or 52.");
        await Assertions.Expect(ByTestId(page, "progress")).ToHaveCountAsync(0);
        await ScreenshotAsync(page, "generate-invalid");
    }

    [Fact]
    public async Task EveryTabOpensAndIsPhotographed()
    {
        var page = await server.OpenStudioAsync();
        foreach (var (tab, expected) in new[]
                 {
                     ("generate", "Prompt"), ("enhance", "local language model"), ("background", "transparent background"),
                     ("history", "Page 1"), ("train", "Not available yet"),
                 })
        {
            await ByTestId(page, $"tab-{tab}").ClickAsync();
            var panel = ByTestId(page, $"panel-{tab}");
            await Assertions.Expect(panel).ToBeVisibleAsync();
            await Assertions.Expect(panel).ToContainTextAsync(expected);
            await ScreenshotAsync(page, $"tab-{tab}");
        }
        Assert.All(new[] { "generate", "enhance", "background", "history", "train" },
            tab => Assert.True(File.Exists(Path.Combine(LiveStudioServer.ScreenshotFolder, $"tab-{tab}.png"))));
    }
}
