using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>What the browser tests do on the studio's page, in the page's own terms.</summary>
public static class StudioPage
{
    public static readonly string[] Tabs = ["generate", "enhance", "background", "history", "train"];

    public static readonly LocatorAssertionsToBeVisibleOptions Long = new() { Timeout = 120_000 };

    public static ILocator ByTestId(this IPage page, string id) => page.Locator($"[data-testid=\"{id}\"]");

    /// <summary>The input element of a field (MudBlazor puts the test id on the input itself).</summary>
    public static ILocator Field(this IPage page, string id) => page.Locator($"input[data-testid=\"{id}\"], textarea[data-testid=\"{id}\"]");

    // Blazor's bindings listen to "change", which a browser fires when a field loses focus; fire it at once.
    public static async Task SetAsync(this IPage page, string testId, string value)
    {
        var field = page.Field(testId);
        await field.FillAsync(value);
        await field.DispatchEventAsync("change");
    }

    public static async Task OpenTabAsync(this IPage page, string tab)
    {
        await page.ByTestId($"tab-{tab}").ClickAsync();
        await Assertions.Expect(page.ByTestId($"panel-{tab}")).ToBeVisibleAsync();
    }

    /// <summary>Opens a section of the Generate form (LoRAs, Advanced) unless it is open.</summary>
    public static async Task OpenSectionAsync(this IPage page, string title, string insideTestId)
    {
        if (await page.ByTestId(insideTestId).IsVisibleAsync())
            return;
        await page.Locator(".generate-sections .mud-expand-panel-header", new() { HasText = title }).ClickAsync();
        await Assertions.Expect(page.ByTestId(insideTestId)).ToBeVisibleAsync();
    }

    /// <summary>Fills the Generate form for a small, quick image of the tiny model.</summary>
    public static async Task FillTinyJobAsync(this IPage page, LiveStudioServer server, string prompt, long seed = 0, int steps = 2)
    {
        await page.SetAsync("prompt", prompt);
        await page.SetAsync("steps", steps.ToString());
        await page.SetAsync("seed", seed.ToString());
        await page.SetAsync("width", "48");
        await page.SetAsync("height", "32");
        await page.OpenSectionAsync("Advanced", "model-path");
        await page.SetAsync("model-path", server.TinyModel);
    }

    public static Task ScreenshotAsync(this IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(LiveStudioServer.ScreenshotFolder, name + ".png") });

    /// <summary>Whether the element lies wholly inside the window, without scrolling.</summary>
    public static async Task<bool> IsInViewportAsync(this IPage page, ILocator element)
    {
        var box = await element.BoundingBoxAsync() ?? throw new InvalidOperationException("The element is not rendered.");
        var size = page.ViewportSize!;
        return box.Width > 0 && box.Height > 0 && box.X >= 0 && box.Y >= 0 && box.X + box.Width <= size.Width && box.Y + box.Height <= size.Height;
    }

    /// <summary>How far the page itself scrolls sideways and down, in pixels (0, 0: it fits the window).</summary>
    public static Task<int[]> OverflowAsync(this IPage page) => page.EvaluateAsync<int[]>(
        "() => { const e = document.scrollingElement; return [e.scrollWidth - e.clientWidth, e.scrollHeight - e.clientHeight]; }");

    /// <summary>The history id in a result image's address.</summary>
    public static async Task<long> ImageIdAsync(ILocator image)
    {
        var source = await image.GetAttributeAsync("src") ?? "";
        return long.Parse(Regex.Match(source, @"/api/images/(\d+)$").Groups[1].Value);
    }
}
