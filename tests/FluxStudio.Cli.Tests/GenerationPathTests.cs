using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Web.Api;
using FluxStudio.Web.Tests;

namespace FluxStudio.Cli.Tests;

/// <summary>
/// The CLI and the web take one generation path: the same size rule and messages, records of what the engine ran,
/// and one history per data root.
/// </summary>
public sealed class GenerationPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-cli-path-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string TinyModel(string name, bool dev)
    {
        var folder = Path.Combine(_dir, name);
        TinyModelWriter.Write(folder, dev, seed: 3);
        return folder;
    }

    private string Folder(string name) => Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;

    private static Task<CliProcess.Result> GenerateAsync(string dataRoot, params string[] arguments) =>
        CliProcess.RunAsync(["generate", .. arguments, "--data-root", dataRoot, "--device", "cpu", "--dtype", "fp32"]);

    private static long HistoryId(CliProcess.Result result)
    {
        var line = result.StandardOutput.Split('\n').Single(l => l.StartsWith("Recorded in history as image ", StringComparison.Ordinal));
        return long.Parse(line["Recorded in history as image ".Length..].Split(' ')[0]);
    }

    [Fact]
    public async Task TheCliAndTheApiAcceptAndRefuseTheSameSizesWithTheSameMessage()
    {
        var tiny = TinyModel("tiny", dev: false);
        var dataRoot = Folder("data");
        await using var server = await StudioServer.StartAsync(dataRoot, Folder("empty-hub"));
        var tinyRule = ImageSizeRule.ForVae(Path.Combine(tiny, "vae"));
        Assert.NotEqual(ImageSizeRule.Flux1.Multiple, tinyRule.Multiple);

        // The tiny model at its own sizes, and a published FLUX.1 (not on disk: its rule is known without it).
        foreach (var (path, rule) in new[] { ((string?)tiny, tinyRule), (null, ImageSizeRule.Flux1) })
        {
            var refused = 2 * rule.Multiple + rule.Multiple / 2;
            var accepted = 2 * rule.Multiple;
            var message = rule.Check("Width", refused)!;
            var pathArguments = path is null ? new[] { "--model", "schnell" } : ["--path", path];

            var api = await server.Client.PostAsJsonAsync("/api/generations",
                new { prompt = "a fox", path, width = refused, height = accepted, steps = 1 });
            var cli = await CliProcess.RunAsync(new Dictionary<string, string> { ["HF_HUB_CACHE"] = Folder("empty-hub"), ["HF_HUB_OFFLINE"] = "1" },
                ["generate", .. pathArguments, "--prompt", "a fox", "--width", refused.ToString(), "--height", accepted.ToString(),
                 "--steps", "1", "--output", Path.Combine(_dir, "refused.png"), "--data-root", dataRoot]);

            Assert.Equal(HttpStatusCode.BadRequest, api.StatusCode);
            Assert.Equal(message, (await ApiClient.ProblemAsync(api)).GetProperty("errors").GetProperty("width")[0].GetString());
            Assert.Equal(2, cli.ExitCode);
            Assert.Equal($"error: {message}", cli.StandardError.Trim());
            Assert.False(File.Exists(Path.Combine(_dir, "refused.png")));
        }

        var queued = await server.Client.PostAsJsonAsync("/api/generations",
            new { prompt = "a fox", path = tiny, width = 2 * tinyRule.Multiple, height = 3 * tinyRule.Multiple, steps = 1 });
        var generated = await GenerateAsync(dataRoot, "--path", tiny, "--prompt", "a fox", "--width", (2 * tinyRule.Multiple).ToString(),
            "--height", (3 * tinyRule.Multiple).ToString(), "--steps", "1", "--output", Path.Combine(_dir, "accepted.png"));
        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);
        Assert.True(generated.ExitCode == 0, generated.StandardError);
    }

    [Fact]
    public async Task ADevNamedRequestOnSchnellWeightsIsRecordedAsWhatRan()
    {
        var schnell = TinyModel("tiny-schnell", dev: false);
        var dataRoot = Folder("data");
        var output = Path.Combine(_dir, "out", "fox.png");

        var cli = await GenerateAsync(dataRoot, "--path", schnell, "--model", "dev", "--guidance", "4", "--prompt", "a fox", "--seed", "5",
            "--width", "32", "--height", "24", "--metadata", "--output", output);

        Assert.True(cli.ExitCode == 0, cli.StandardError);
        Assert.Contains($"FLUX.1 [dev] was chosen, but the model at {schnell} is FLUX.1 [schnell]", cli.StandardError);
        Assert.Contains("no guidance input; the guidance value was ignored", cli.StandardError);
        var sidecar = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(output, ".json"))).RootElement;
        Assert.Equal(("schnell", 4, JsonValueKind.Null),
            (sidecar.GetProperty("model").GetString(), sidecar.GetProperty("steps").GetInt32(), sidecar.GetProperty("guidance").ValueKind));
        var parameters = PngChunkReader.ReadText(File.ReadAllBytes(output))["parameters"];
        Assert.Contains("Steps: 4,", parameters);
        Assert.Contains("Model: flux1-schnell", parameters);
        Assert.DoesNotContain("Distilled CFG Scale", parameters);
        var show = await CliProcess.RunAsync("history", "show", HistoryId(cli).ToString(), "--data-root", dataRoot);
        Assert.Contains("Model: schnell\n", show.StandardOutput);
        Assert.Contains("Steps: 4\n", show.StandardOutput);
        Assert.Contains("Guidance: None\n", show.StandardOutput);

        // The same request through the API: the queue's worker records the same facts.
        await using var server = await StudioServer.StartAsync(dataRoot, Folder("empty-hub"));
        var status = await ApiClient.GenerateAsync(server.Client,
            new { prompt = "a fox", model = "dev", guidance = 4.0, path = schnell, seed = 5, width = 32, height = 24 });
        Assert.Equal(4, status.Steps);
        Assert.Contains(status.Warnings, w => w.StartsWith("FLUX.1 [dev] was chosen", StringComparison.Ordinal));
        var entry = await server.Client.GetFromJsonAsync<HistoryItemDetails>($"/api/history/{status.HistoryId}", ApiClient.Json);
        Assert.Equal(("schnell", 4, (double?)null), (entry!.Item.Model, entry.Item.Steps, entry.Item.Guidance));
        Assert.Equal("schnell", entry.Settings.Model);
    }

    [Fact]
    public async Task ADevFolderLeftAtTheDefaultModelRunsAndRecordsDevSteps()
    {
        var dev = TinyModel("tiny-dev", dev: true);
        var dataRoot = Folder("data");
        var output = Path.Combine(_dir, "dev.png");

        var cli = await GenerateAsync(dataRoot, "--path", dev, "--prompt", "a fox", "--width", "32", "--height", "24", "--output", output);

        Assert.True(cli.ExitCode == 0, cli.StandardError);
        // Without --model, a folder is what its weights are: no warning, and the steps and guidance dev runs with.
        Assert.DoesNotContain("was chosen", cli.StandardError);
        var show = (await CliProcess.RunAsync("history", "show", HistoryId(cli).ToString(), "--data-root", dataRoot)).StandardOutput;
        Assert.Contains("Model: dev\n", show);
        Assert.Contains("Steps: 20\n", show);
        Assert.Contains("Guidance: 3.5\n", show);
    }

    [Fact]
    public async Task ACliGenerationIsInTheHistoryOfItsDataRootForTheCliAndTheWeb()
    {
        var tiny = TinyModel("tiny", dev: false);
        var dataRoot = Folder("data");
        var output = Path.Combine(_dir, "mine", "lighthouse.png");

        var cli = await GenerateAsync(dataRoot, "--path", tiny, "--prompt", "a lighthouse at dusk", "--seed", "77",
            "--width", "32", "--height", "24", "--output", output);
        var skipped = await GenerateAsync(dataRoot, "--path", tiny, "--prompt", "not recorded", "--width", "32", "--height", "24",
            "--output", Path.Combine(_dir, "mine", "unrecorded.png"), "--no-history");

        Assert.True(cli.ExitCode == 0, cli.StandardError);
        Assert.True(skipped.ExitCode == 0, skipped.StandardError);
        Assert.DoesNotContain("Recorded in history", skipped.StandardOutput);
        var list = await CliProcess.RunAsync("history", "list", "--data-root", dataRoot);
        Assert.Contains("a lighthouse at dusk", list.StandardOutput);
        Assert.Contains("seed 77", list.StandardOutput);
        Assert.DoesNotContain("not recorded", list.StandardOutput);

        var id = HistoryId(cli);
        await using (var server = await StudioServer.StartAsync(dataRoot, Folder("empty-hub")))
        {
            var history = await server.Client.GetFromJsonAsync<HistoryListing>("/api/history", ApiClient.Json);
            var item = Assert.Single(history!.Items);
            Assert.Equal((id, "a lighthouse at dusk", 77L), (item.Id, item.Prompt, item.Seed));
            // History serves its own copy, inside its output folder; --output got the same image.
            Assert.Equal(File.ReadAllBytes(output), await server.Client.GetByteArrayAsync(item.ImageUrl));
        }

        var delete = await CliProcess.RunAsync("history", "delete", id.ToString(), "--data-root", dataRoot);
        Assert.Equal(0, delete.ExitCode);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(dataRoot, "outputimage")));
        Assert.True(File.Exists(output), "the user's own copy stays");
    }

    [Fact]
    public async Task TheDataRootInAppsettingsJsonIsTheClisToo()
    {
        var tiny = TinyModel("tiny", dev: false);
        var settings = Folder("settings");
        var dataRoot = Path.Combine(_dir, "from-appsettings");
        File.WriteAllText(Path.Combine(settings, "appsettings.json"),
            JsonSerializer.Serialize(new { FluxStudio = new { DataRoot = dataRoot } }));
        var environment = new Dictionary<string, string> { ["DOTNET_CONTENTROOT"] = settings };

        var generated = await CliProcess.RunAsync(environment, "generate", "--path", tiny, "--prompt", "configured in a file",
            "--width", "32", "--height", "24", "--output", Path.Combine(_dir, "configured.png"));
        var list = await CliProcess.RunAsync(environment, "history", "list");

        Assert.True(generated.ExitCode == 0, generated.StandardError);
        Assert.Contains(Path.Combine(dataRoot, "outputimage"), generated.StandardOutput);
        Assert.Contains("configured in a file", list.StandardOutput);
        Assert.True(File.Exists(Path.Combine(dataRoot, "fluxstudio.db")));
    }
}
