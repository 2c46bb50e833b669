using System.Net.Http.Json;
using FluxStudio.App.Tests.Support;
using Microsoft.Playwright;
using static FluxStudio.Web.Tests.Browser.StudioPage;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>Every tab on a phone and on a laptop, in both themes: it fits, it passes axe-core, and it is photographed.</summary>
[Collection(BrowserCollection.Name)]
public sealed class LayoutTests(LiveStudioServer server)
{
    [Fact]
    public async Task NoTabScrollsSidewaysOnAPhoneAndAnImagesDetailsOpenAboveTheGallery()
    {
        const string prompt = "an image looked at on a phone";
        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        (await client.PostAsJsonAsync("/api/generations", new { prompt, steps = 1, seed = 31, width = 48, height = 32, path = server.TinyModel }))
            .EnsureSuccessStatusCode();

        var page = await server.OpenStudioAsync(width: 400, height: 800);
        foreach (var tab in Tabs)
        {
            await page.OpenTabAsync(tab);
            var overflow = await page.OverflowAsync();
            Assert.True(overflow[0] <= 0, $"The {tab} tab scrolls sideways by {overflow[0]} px at 400 px.");
            await page.ScreenshotAsync($"phone-{tab}");
        }

        // The Generate form's picture sections, open, fit too.
        await page.OpenTabAsync("generate");
        await page.OpenSectionAsync("Image to image", "init-image");
        await page.OpenSectionAsync("ControlNet", "controlnet-image");
        await page.ByTestId("controlnet-image").Locator("input[type=file]").SetInputFilesAsync(ControlNetFixture.ControlImage);
        await Assertions.Expect(page.ByTestId("controlnet-edges")).ToBeVisibleAsync();
        Assert.True((await page.OverflowAsync())[0] <= 0, "The Generate tab scrolls sideways with its picture sections open.");
        await page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = Path.Combine(LiveStudioServer.ScreenshotFolder, "phone-generate-pictures.png"), FullPage = true,
        });

        await page.OpenTabAsync("history");
        await page.Locator($".thumb[title=\"{prompt}\"]").ClickAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(page.ByTestId("history-details-text")).ToContainTextAsync("Seed: 31");
        foreach (var action in new[] { "history-reuse", "history-download", "history-delete" })
            Assert.True(await page.IsInViewportAsync(page.ByTestId(action)), $"{action} is outside the window at 400 px");
        Assert.True((await page.OverflowAsync())[0] <= 0, "The History tab scrolls sideways with an image's details open.");
        await page.ScreenshotAsync("phone-history-details");
    }

    [Theory]
    [InlineData(ColorScheme.Light)]
    [InlineData(ColorScheme.Dark)]
    public async Task EveryTabFitsTheWindowPassesAxeAndIsPhotographed(ColorScheme scheme)
    {
        var theme = scheme == ColorScheme.Dark ? "dark" : "light";
        var page = await server.OpenStudioAsync(colorScheme: scheme);
        await Assertions.Expect(page.ByTestId("ready")).ToHaveAttributeAsync("data-theme", theme);
        var violations = new List<string>();
        foreach (var tab in Tabs)
        {
            await page.OpenTabAsync(tab);
            Assert.Equal(new[] { 0, 0 }, await page.OverflowAsync());
            violations.AddRange((await AxeCore.SeriousViolationsAsync(page)).Select(v => $"{tab}: {v}"));
            await page.ScreenshotAsync($"tab-{tab}-{theme}");
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
        Assert.All(Tabs, tab => Assert.True(File.Exists(Path.Combine(LiveStudioServer.ScreenshotFolder, $"tab-{tab}-{theme}.png"))));
    }
}
