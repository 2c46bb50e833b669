using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;
using Microsoft.Playwright;
using static FluxStudio.Web.Tests.Browser.StudioPage;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>
/// The Generate tab's pictures and batches in a real browser at 1280 × 800, on the real engine: a batch shown together,
/// a result sent to image to image, and a ControlNet reference whose edge map is previewed, followed and kept.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class GenerationInputsBrowserTests(LiveStudioServer server)
{
    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The 8-bit RGB pixels of a PNG given as bytes or as a data URL.</summary>
    private static byte[] Rgb(byte[] png) => RgbImageFile.Decode(png).Pixels;

    private static byte[] FromDataUrl(string url) => Convert.FromBase64String(url[(url.IndexOf(',') + 1)..]);

    /// <summary>Presses Generate and waits until the job it queued (not the one shown before) is done.</summary>
    private static async Task GenerateAndWaitAsync(IPage page)
    {
        var before = await page.ByTestId("job-id").CountAsync() > 0 ? await page.ByTestId("job-id").TextContentAsync() : null;
        await page.ByTestId("generate").ClickAsync();
        if (before is not null)
            await Assertions.Expect(page.ByTestId("job-id")).Not.ToHaveTextAsync(before);
        await Assertions.Expect(page.ByTestId("job-state")).ToHaveTextAsync("Done", new() { Timeout = 120_000 });
    }

    private static async Task<JsonElement> HistoryItemAsync(HttpClient client, long id) =>
        await client.GetFromJsonAsync<JsonElement>($"/api/history/{id}");

    [Fact]
    public async Task ABatchShowsItsImagesTogetherAndOneSentToImageToImageStartsANewResult()
    {
        var page = await server.OpenStudioAsync();
        await page.FillTinyJobAsync(server, "a row of tiny paper boats", seed: 40);
        await page.SetAsync("batch-count", "2");
        await Assertions.Expect(page.ByTestId("batch-seeds")).ToHaveTextAsync(new Regex("seeds 40 to 41"));
        await GenerateAndWaitAsync(page);
        await Assertions.Expect(page.ByTestId("progress-text")).ToHaveTextAsync("2 images");
        await Assertions.Expect(page.Locator(".queue-item.followed .queue-status")).ToHaveTextAsync("Done, 2 images");
        await Assertions.Expect(page.ByTestId("result-seed")).ToHaveTextAsync("41");
        await page.ByTestId("batch-image-1").ClickAsync();
        await Assertions.Expect(page.ByTestId("result-seed")).ToHaveTextAsync("40");
        await Assertions.Expect(page.ByTestId("batch-image-1")).ToHaveAttributeAsync("aria-pressed", "true");
        foreach (var element in new[] { "result", "batch-image-2", "send-img2img", "send-controlnet" })
            Assert.True(await page.IsInViewportAsync(page.ByTestId(element)), $"{element} is outside the window");
        var first = await ImageIdAsync(page.ByTestId("result"));
        await page.ScreenshotAsync("generate-batch");

        // The first image of the batch becomes the start picture of a new, single image.
        await page.ByTestId("send-img2img").ClickAsync();
        await Assertions.Expect(page.ByTestId("init-image-thumb")).ToBeVisibleAsync();
        await page.SetAsync("batch-count", "1");
        await GenerateAndWaitAsync(page);
        await Assertions.Expect(page.ByTestId("result-seed")).ToHaveTextAsync("40");
        var started = await ImageIdAsync(page.ByTestId("result"));
        Assert.True(started > first);

        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var item = await HistoryItemAsync(client, started);
        var source = await client.GetByteArrayAsync($"/api/images/{first}");
        Assert.Contains($"Start image SHA-256: {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(source))}",
            item.GetProperty("details").GetString());
        Assert.Equal(0.4, item.GetProperty("settings").GetProperty("imageStrength").GetDouble());
        // Same seed and settings as the first image, but started from it: a different picture.
        Assert.NotEqual(Rgb(source), Rgb(await client.GetByteArrayAsync($"/api/images/{started}")));

        // History shows what the image was made from, and the form's open sections pass the accessibility check.
        Assert.Empty(await AxeCore.SeriousViolationsAsync(page));
        await page.OpenTabAsync("history");
        await page.ByTestId($"history-item-{started}").ClickAsync();
        await Assertions.Expect(page.ByTestId("history-input-init")).ToContainTextAsync("Start picture, strength 0.40");
        await Assertions.Expect(page.ByTestId("history-input-init").Locator("img")).ToBeVisibleAsync();
        await Assertions.Expect(page.ByTestId("history-details-text")).ToContainTextAsync("Image strength: 0.4");
    }

    [Fact]
    public async Task AReferencePictureShowsTheEdgesItGivesAndGuidesTheImageAsTheCommandLineDoes()
    {
        var run = ControlNetFixture.RunNames[0];
        var (convention, strength) = ControlNetFixture.RunSettings(run);
        var page = await server.OpenStudioAsync();
        await page.SetAsync("prompt", ControlNetFixture.Prompt);
        await page.ByTestId("model-dev").ClickAsync();
        await page.SetAsync("guidance", Number(ControlNetFixture.Guidance));
        await page.SetAsync("steps", ControlNetFixture.Steps.ToString(CultureInfo.InvariantCulture));
        await page.SetAsync("seed", ControlNetFixture.Seed.ToString(CultureInfo.InvariantCulture));
        await page.SetAsync("width", ControlNetFixture.Width.ToString(CultureInfo.InvariantCulture));
        await page.SetAsync("height", ControlNetFixture.Height.ToString(CultureInfo.InvariantCulture));
        await page.OpenSectionAsync("Advanced", "model-path");
        await page.SetAsync("model-path", ControlNetFixture.PipelineModel);

        await page.OpenSectionAsync("ControlNet", "controlnet-image");
        await page.ByTestId("controlnet-image").Locator("input[type=file]").SetInputFilesAsync(ControlNetFixture.ControlImage);
        await Assertions.Expect(page.ByTestId("controlnet-image-thumb")).ToBeVisibleAsync();
        // Before generating, the page shows exactly the edge map the engine will encode.
        var edges = page.ByTestId("controlnet-edges");
        await Assertions.Expect(edges).ToBeVisibleAsync();
        Assert.Equal(Rgb(await File.ReadAllBytesAsync(ControlNetFixture.ControlCannyRgb)), Rgb(FromDataUrl((await edges.GetAttributeAsync("src"))!)));

        await page.Locator("[data-testid=controlnet-strength] input[type=range], input[type=range][data-testid=controlnet-strength]")
            .FillAsync(Number(strength));
        await page.ByTestId($"controlnet-encoding-{convention}").ClickAsync();
        await page.Field("controlnet-save-canny").CheckAsync();
        Assert.Empty(await AxeCore.SeriousViolationsAsync(page));
        await page.ScreenshotAsync("generate-controlnet-form");
        await GenerateAndWaitAsync(page);
        await Assertions.Expect(page.ByTestId("result-edges")).ToBeVisibleAsync();
        Assert.True(await page.IsInViewportAsync(page.ByTestId("result-edges")), "the edge map is outside the window");
        await page.ScreenshotAsync("generate-controlnet-result");

        // The same pixels as the fixture's run (within one level), and the edge map is kept with the image.
        var id = await ImageIdAsync(page.ByTestId("result"));
        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var expected = Rgb(await File.ReadAllBytesAsync(ControlNetFixture.RunImage(run)));
        var actual = Rgb(await client.GetByteArrayAsync($"/api/images/{id}"));
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1));
        var settings = (await HistoryItemAsync(client, id)).GetProperty("settings");
        Assert.Equal((strength, convention), (settings.GetProperty("controlNetStrength").GetDouble(), settings.GetProperty("controlNetEncoding").GetString()));
        Assert.Equal(Rgb(await File.ReadAllBytesAsync(ControlNetFixture.ControlCannyRgb)),
            Rgb(await client.GetByteArrayAsync($"/api/images/{id}/controlnet-canny")));

        await page.OpenTabAsync("history");
        await page.ByTestId($"history-item-{id}").ClickAsync();
        await Assertions.Expect(page.ByTestId("history-input-controlnet")).ToContainTextAsync("ControlNet reference");
        await Assertions.Expect(page.ByTestId("history-input-edges").Locator("img")).ToBeVisibleAsync();
        await Assertions.Expect(page.ByTestId("history-details-text")).ToContainTextAsync($"ControlNet encoding: {convention}");
        await page.ScreenshotAsync("history-controlnet-details");
    }
}
