using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluxStudio.App.Loras;
using Microsoft.Playwright;
using static FluxStudio.Web.Tests.Browser.StudioPage;

namespace FluxStudio.Web.Tests.Browser;

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<LiveStudioServer>
{
    public const string Name = "browser";
}

/// <summary>The studio in a real browser at 1280 × 800, generating with the real engine on a tiny model.</summary>
[Collection(BrowserCollection.Name)]
public sealed class StudioBrowserTests(LiveStudioServer server)
{
    [Fact]
    public async Task CtrlEnterGeneratesAndTheImageItsSeedAndADownloadLinkAreInTheWindow()
    {
        var page = await server.OpenStudioAsync();
        await page.FillTinyJobAsync(server, "a tiny lighthouse in the fog, seen from the sea");
        await page.Field("prompt").FocusAsync();
        await page.Keyboard.PressAsync("Control+Enter");

        var result = page.ByTestId("result");
        await Assertions.Expect(result).ToBeVisibleAsync(Long);
        await Assertions.Expect(page.ByTestId("job-state")).ToHaveTextAsync("Done");
        await Assertions.Expect(page.ByTestId("progress-text")).ToHaveTextAsync("2 of 2 steps");
        // The step preview gives way to the image: one image shows.
        await Assertions.Expect(page.ByTestId("preview")).ToHaveCountAsync(0);
        var seed = page.ByTestId("result-seed");
        var download = page.ByTestId("download");
        await Assertions.Expect(seed).ToHaveTextAsync(new Regex(@"^[1-9]\d*$"));
        foreach (var element in new[] { result, seed, download })
            Assert.True(await page.IsInViewportAsync(element), $"{await element.GetAttributeAsync("data-testid")} is outside the window");
        Assert.Equal(new[] { 0, 0 }, await page.OverflowAsync());

        // The seed shown is the one history recorded for the random seed, and the link downloads the PNG.
        var imageId = await ImageIdAsync(result);
        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var entry = await client.GetFromJsonAsync<JsonElement>($"/api/history/{imageId}");
        Assert.Equal(entry.GetProperty("item").GetProperty("seed").GetInt64().ToString(), await seed.TextContentAsync());
        var file = await page.RunAndWaitForDownloadAsync(() => download.ClickAsync());
        Assert.Matches(@"_\d+\.png$", file.SuggestedFilename);
        var saved = await File.ReadAllBytesAsync(await file.PathAsync());
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, saved[..4]);
        await page.ScreenshotAsync("generate-result");
    }

    [Fact]
    public async Task AReloadDuringAJobStillShowsItAndItsCancelButtonCancelsIt()
    {
        server.Gate.Close();
        try
        {
            var page = await server.OpenStudioAsync();
            await page.FillTinyJobAsync(server, "a job that is reloaded while it runs", seed: 5);
            await page.ByTestId("generate").ClickAsync();
            await server.Gate.Reached.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await Assertions.Expect(page.ByTestId("progress-text")).ToHaveTextAsync("Loading the model");
            // The page keeps the job it follows in the browser just after showing it; reload once it has.
            await page.WaitForFunctionAsync("() => localStorage.getItem('fluxstudio.followed-job') !== null");

            await LiveStudioServer.ReloadAsync(page);

            await Assertions.Expect(page.ByTestId("job-state")).ToHaveTextAsync("Running");
            await Assertions.Expect(page.ByTestId("progress-text")).ToHaveTextAsync("Loading the model");
            await Assertions.Expect(page.ByTestId("elapsed")).ToBeVisibleAsync();
            var job = page.Locator(".queue-item[data-status=running]");
            await Assertions.Expect(job).ToHaveCountAsync(1);
            await Assertions.Expect(job).ToContainTextAsync("a job that is reloaded while it runs");
            // The form came back too.
            await Assertions.Expect(page.Field("prompt")).ToHaveValueAsync("a job that is reloaded while it runs");
            await Assertions.Expect(page.Field("seed")).ToHaveValueAsync("5");
            await page.ScreenshotAsync("generate-running-after-reload");

            await Assertions.Expect(page.ByTestId("cancel")).ToBeEnabledAsync();
            await page.ByTestId("cancel").ClickAsync();
            await Assertions.Expect(page.ByTestId("job-state")).ToHaveTextAsync("Cancelled", new() { Timeout = 30_000 });
            await Assertions.Expect(page.ByTestId("job-error")).ToHaveTextAsync("The generation was cancelled.");
            await Assertions.Expect(job).ToHaveCountAsync(0);
            await Assertions.Expect(page.ByTestId("cancel")).ToBeDisabledAsync();
        }
        finally
        {
            server.Gate.Open();
        }
    }

    [Fact]
    public async Task TwoQueuedJobsBothShowTheirResults()
    {
        var page = await server.OpenStudioAsync();
        server.Gate.Close();
        try
        {
            await page.FillTinyJobAsync(server, "the first of two queued jobs", seed: 11);
            await page.ByTestId("generate").ClickAsync();
            await server.Gate.Reached.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await page.SetAsync("prompt", "the second of two queued jobs");
            await page.SetAsync("seed", "12");
            await page.ByTestId("generate").ClickAsync();
            await Assertions.Expect(page.Locator(".queue-item[data-status=queued]")).ToHaveCountAsync(1);
            await Assertions.Expect(page.ByTestId("queue-position")).ToHaveTextAsync("1 job ahead");
            await page.ScreenshotAsync("generate-two-queued");
        }
        finally
        {
            server.Gate.Open();
        }

        var first = page.Locator(".queue-item", new() { HasText = "the first of two queued jobs" });
        var second = page.Locator(".queue-item", new() { HasText = "the second of two queued jobs" });
        foreach (var job in new[] { first, second })
        {
            await Assertions.Expect(job).ToHaveAttributeAsync("data-status", "done", new() { Timeout = 120_000 });
            await Assertions.Expect(job.Locator("img.queue-thumb")).ToBeVisibleAsync();
        }
        // The result area follows the job queued last; the first one's image is a click away.
        await Assertions.Expect(page.ByTestId("result-seed")).ToHaveTextAsync("12");
        await first.Locator(".queue-show").ClickAsync();
        await Assertions.Expect(page.ByTestId("result-seed")).ToHaveTextAsync("11");
        await Assertions.Expect(page.ByTestId("result")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task ANewImageAppearsInAnOpenHistoryTabWithoutAClick()
    {
        var page = await server.OpenStudioAsync();
        await page.OpenTabAsync("history");
        const string prompt = "an image made while History is open";
        await Assertions.Expect(page.Locator($"[title=\"{prompt}\"]")).ToHaveCountAsync(0);

        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var response = await client.PostAsJsonAsync("/api/generations",
            new { prompt, steps = 1, seed = 21, width = 48, height = 32, path = server.TinyModel });
        response.EnsureSuccessStatusCode();

        await Assertions.Expect(page.Locator($".thumb[title=\"{prompt}\"]")).ToBeVisibleAsync(Long);
    }

    [Fact]
    public async Task GeneratesThenFindsOpensReusesAndDeletesTheImageInHistory()
    {
        var page = await server.OpenStudioAsync();
        await page.FillTinyJobAsync(server, "a tiny lighthouse in the fog", seed: 1234);
        await page.ByTestId("generate").ClickAsync();
        await Assertions.Expect(page.ByTestId("result")).ToBeVisibleAsync(Long);
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=result]')?.complete");
        var image = await page.EvaluateAsync<int[]>(
            "() => { const i = document.querySelector('[data-testid=result]'); return [i.naturalWidth, i.naturalHeight]; }");
        Assert.Equal([48, 32], image);
        var job = (await page.Locator(".queue-item.followed").GetAttributeAsync("data-testid"))!["queue-job-".Length..];

        await page.OpenTabAsync("history");
        await page.SetAsync("history-search", "lighthouse in the fog");
        await page.ByTestId("history-search-button").ClickAsync();
        var thumb = page.Locator(".thumb[title=\"a tiny lighthouse in the fog\"]");
        await Assertions.Expect(thumb).ToHaveCountAsync(1);
        await thumb.ClickAsync();
        var details = page.ByTestId("history-details-text");
        await Assertions.Expect(details).ToContainTextAsync("Prompt: a tiny lighthouse in the fog");
        await Assertions.Expect(details).ToContainTextAsync("Seed: 1234");
        // Reuse, download and delete are in the window at 1280 × 800, without scrolling.
        foreach (var action in new[] { "history-reuse", "history-download", "history-delete" })
            Assert.True(await page.IsInViewportAsync(page.ByTestId(action)), $"{action} is outside the window");
        Assert.Equal(new[] { 0, 0 }, await page.OverflowAsync());
        await page.ScreenshotAsync("history-details");

        await page.OpenTabAsync("generate");
        await page.SetAsync("prompt", "something else");
        await page.OpenTabAsync("history");
        await page.ByTestId("history-reuse").ClickAsync();
        await Assertions.Expect(page.ByTestId("panel-generate")).ToBeVisibleAsync();
        await Assertions.Expect(page.Field("prompt")).ToHaveValueAsync("a tiny lighthouse in the fog");
        await Assertions.Expect(page.Field("seed")).ToHaveValueAsync("1234");
        await Assertions.Expect(page.Field("width")).ToHaveValueAsync("48");
        await page.OpenTabAsync("history");

        await page.ByTestId("history-delete").ClickAsync();
        await Assertions.Expect(page.ByTestId("history-confirm")).ToBeVisibleAsync();
        await page.ByTestId("history-confirm-delete").ClickAsync();
        await Assertions.Expect(page.ByTestId("history-message")).ToContainTextAsync("Deleted image");
        await Assertions.Expect(thumb).ToHaveCountAsync(0);
        await Assertions.Expect(page.ByTestId("history-details")).ToHaveCountAsync(0);

        // The queue still lists the job: its picture becomes a placeholder, not the browser's broken-image icon.
        await LiveStudioServer.ReloadAsync(page);
        var queueThumb = page.ByTestId($"queue-thumb-{job}");
        await Assertions.Expect(queueThumb).ToHaveAttributeAsync("data-missing", "true");
        await page.WaitForFunctionAsync($"() => document.querySelector('[data-testid=queue-thumb-{job}]').complete");
        Assert.True(await queueThumb.EvaluateAsync<bool>("i => i.naturalWidth > 0 && i.src.endsWith('/missing-image.svg')"));
    }

    [Fact]
    public async Task TheEnhancerAdaptsToVisionModelsStreamsAndHandsItsPromptToGenerate()
    {
        var page = await server.OpenStudioAsync();
        await page.OpenTabAsync("enhance");
        await ChooseEnhancerModelAsync(page, "llava:7b");
        await Assertions.Expect(page.ByTestId("enhance")).ToHaveTextAsync("Describe image as prompt");
        await Assertions.Expect(page.ByTestId("enhance-image")).ToBeVisibleAsync();

        await ChooseEnhancerModelAsync(page, "llama3.2:latest");
        await Assertions.Expect(page.ByTestId("enhance")).ToHaveTextAsync("Enhance prompt");
        await Assertions.Expect(page.ByTestId("enhance-image")).ToHaveCountAsync(0);
        await page.SetAsync("enhance-text", "a fox");
        await page.Field("enhance-text").FocusAsync();
        await page.Keyboard.PressAsync("Control+Enter");
        await Assertions.Expect(page.Field("enhance-result")).ToHaveValueAsync("A red fox in fresh snow.", new() { Timeout = 60_000 });
        await page.ScreenshotAsync("enhance-result");

        await page.ByTestId("enhance-use").ClickAsync();
        await Assertions.Expect(page.ByTestId("panel-generate")).ToBeVisibleAsync();
        await Assertions.Expect(page.Field("prompt")).ToHaveValueAsync("A red fox in fresh snow.");
    }

    private static async Task ChooseEnhancerModelAsync(IPage page, string model)
    {
        await page.ByTestId("enhance-model").ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = model }).ClickAsync();
        // The field shows the name, and "(vision)" after the name of a vision model.
        await Assertions.Expect(page.GetByRole(AriaRole.Combobox, new() { Name = "Model" })).ToContainTextAsync(model);
    }

    [Fact]
    public async Task GuidanceIsHiddenForSchnellAndShownForDev()
    {
        var page = await server.OpenStudioAsync();
        await Assertions.Expect(page.ByTestId("guidance-field")).ToHaveCountAsync(0);
        await page.ByTestId("model-dev").ClickAsync();
        await Assertions.Expect(page.Field("guidance")).ToBeVisibleAsync();
        await Assertions.Expect(page.Field("guidance")).ToHaveValueAsync("3.5");
        await page.ByTestId("model-schnell").ClickAsync();
        await Assertions.Expect(page.ByTestId("guidance-field")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task AnInvalidValueShowsAReadableMessageNextToItsField()
    {
        var page = await server.OpenStudioAsync();
        await page.FillTinyJobAsync(server, "a fox");
        // The size rule is the model's: the tiny model's VAE downscales by 2, so sizes are multiples of 4.
        await page.SetAsync("width", "50");
        await page.ByTestId("generate").ClickAsync();

        var error = page.ByTestId("error-Width");
        await Assertions.Expect(error).ToHaveTextAsync("Width must be a multiple of 4; 50 is not. Try 48 or 52.");
        await Assertions.Expect(page.ByTestId("progress")).ToHaveCountAsync(0);
        await page.ScreenshotAsync("generate-invalid");
    }

    [Fact]
    public async Task TheTabsFollowTheArrowKeys()
    {
        var page = await server.OpenStudioAsync();
        var tabs = page.GetByRole(AriaRole.Tab);
        await Assertions.Expect(tabs).ToHaveCountAsync(Tabs.Length);
        await tabs.Nth(0).FocusAsync();
        await page.Keyboard.PressAsync("ArrowRight");
        await Assertions.Expect(tabs.Nth(1)).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(tabs.Nth(1)).ToHaveAttributeAsync("aria-selected", "true");
        await Assertions.Expect(page.ByTestId("panel-enhance")).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("ArrowLeft");
        await Assertions.Expect(tabs.Nth(0)).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(tabs.Nth(0)).ToHaveAttributeAsync("aria-selected", "true");
        await Assertions.Expect(page.ByTestId("panel-generate")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task EveryLoraFileIsListedAndItsDescriptionAndKeywordAreSavedFromThePage()
    {
        Directory.CreateDirectory(server.LoraFolder);
        const string file = "paper-cut.safetensors";
        await File.WriteAllBytesAsync(Path.Combine(server.LoraFolder, file), [0]);
        var page = await server.OpenStudioAsync();
        await page.OpenSectionAsync("LoRAs", "loras");
        var lora = page.ByTestId($"lora-{file}");
        await Assertions.Expect(lora).ToContainTextAsync("Not described yet.");
        // A scale cannot change while the LoRA is not chosen.
        await Assertions.Expect(lora.Locator("input[type=range]")).ToBeDisabledAsync();

        await page.ByTestId($"lora-edit-{file}").ClickAsync();
        await page.SetAsync("lora-description", "Paper cut-out style");
        await page.SetAsync("lora-keyword", "papercut");
        await page.ByTestId("lora-save").ClickAsync();

        await Assertions.Expect(lora).ToContainTextAsync("Paper cut-out style");
        await Assertions.Expect(lora).ToContainTextAsync("Keyword: papercut");
        var catalog = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(server.LoraFolder, LoraCatalog.InfoFileName)));
        var entry = catalog.RootElement.EnumerateArray().Single(e => e.GetProperty("file_name").GetString() == file);
        Assert.Equal("papercut", entry.GetProperty("activation_keyword").GetString());
        await page.ScreenshotAsync("generate-loras");
    }
}
