using FluxStudio.App.Tests.Support;
using Microsoft.Playwright;
using static FluxStudio.Web.Tests.Browser.StudioPage;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>The Train tab in a real browser: a short training of the tiny model, from the pictures to the LoRA on the Generate tab.</summary>
[Collection(BrowserCollection.Name)]
public sealed class TrainTabBrowserTests(LiveStudioServer server)
{
    [Fact]
    public async Task AShortTrainingShowsItsLossChartValidationImageAndFilesAndItsLoraAppearsOnTheGenerateTab()
    {
        var page = await server.OpenStudioAsync();
        await page.OpenTabAsync("train");

        // training-tiny's pictures and captions.
        var config = TrainingTinyRun.Config();
        var folder = config["examples"]!["path"]!.GetValue<string>();
        var examples = config["examples"]!["images"]!.AsArray()
            .Select(e => (Path: Path.Combine(folder, e!["image"]!.GetValue<string>()), Caption: e["prompt"]!.GetValue<string>())).ToList();
        await page.Locator("[data-testid=panel-train] input[type=file]").SetInputFilesAsync(examples.Select(e => e.Path));
        await Assertions.Expect(page.ByTestId("train-image")).ToHaveCountAsync(examples.Count);
        for (int i = 0; i < examples.Count; i++)
            await page.SetAsync($"caption-{i}", examples[i].Caption);

        await page.ByTestId("train-model-schnell").ClickAsync();
        foreach (var (field, value) in new[]
                 {
                     ("train-width", "48"), ("train-height", "32"), ("train-steps", "4"), ("train-epochs", "2"), ("train-batch", "1"),
                     ("train-learning-rate", "0.001"), ("train-checkpoint-frequency", "2"), ("train-plot-frequency", "1"),
                     ("train-image-frequency", "2"), ("train-validation-prompt", "photo of sks toy"),
                 })
            await page.SetAsync(field, value);
        await page.Locator(".train-form .mud-expand-panel-header", new() { HasText = "LoRA layers and model" }).ClickAsync();
        await page.SetAsync("train-blocks-end", "2");
        await page.SetAsync("train-model-path", server.TinyModel);
        await page.ScreenshotAsync("train-form");

        await page.ByTestId("train-start").ClickAsync();

        await Assertions.Expect(page.ByTestId("train-status")).ToHaveTextAsync("Done", new() { Timeout = 120_000 });
        await Assertions.Expect(page.ByTestId("train-progress")).ToHaveTextAsync("4 of 4 steps");
        await Assertions.Expect(page.ByTestId("loss-chart")).ToBeVisibleAsync();
        await Assertions.Expect(page.ByTestId("loss-summary")).ToContainTextAsync("Step 4: loss");
        var image = page.ByTestId("train-validation-image");
        await Assertions.Expect(image).ToBeVisibleAsync();
        Assert.True(await image.EvaluateAsync<int>("img => img.naturalWidth") > 0, "The validation image did not load.");
        var downloads = page.ByTestId("train-downloads");
        await Assertions.Expect(downloads).ToContainTextAsync("Loss plot (PDF)");
        await Assertions.Expect(downloads).ToContainTextAsync("Checkpoint 4 (zip)");
        await Assertions.Expect(downloads).ToContainTextAsync("LoRA (safetensors)");
        var lora = (await page.ByTestId("train-lora").Locator("code").TextContentAsync())!;
        await page.ScreenshotAsync("train-done");

        await page.OpenTabAsync("generate");
        await page.OpenSectionAsync("LoRAs", "loras");
        var entry = page.ByTestId($"lora-{lora}");
        await Assertions.Expect(entry).ToBeVisibleAsync();
        await Assertions.Expect(entry).ToContainTextAsync("sks");
    }
}
