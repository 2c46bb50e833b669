using Microsoft.Playwright;
using static FluxStudio.Web.Tests.Browser.StudioPage;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>Every tab on a phone and on a laptop, in both themes: it fits, it passes axe-core, and it is photographed.</summary>
[Collection(BrowserCollection.Name)]
public sealed class LayoutTests(LiveStudioServer server)
{
    [Fact]
    public async Task NoTabScrollsSidewaysOnAPhone()
    {
        var page = await server.OpenStudioAsync(width: 400, height: 800);
        foreach (var tab in Tabs)
        {
            await page.OpenTabAsync(tab);
            var overflow = await page.OverflowAsync();
            Assert.True(overflow[0] <= 0, $"The {tab} tab scrolls sideways by {overflow[0]} px at 400 px.");
            await page.ScreenshotAsync($"phone-{tab}");
        }
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
