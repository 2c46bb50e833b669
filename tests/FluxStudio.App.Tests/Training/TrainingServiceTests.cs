using System.IO.Compression;
using System.Text.Json.Nodes;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.App.Training;
using FluxStudio.Engine;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Weights;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using SkiaSharp;

namespace FluxStudio.App.Tests.Training;

/// <summary>The training use case on the real engine: training-tiny's configuration and images on pipeline-tiny's model.</summary>
public sealed class TrainingServiceTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly FluxImageGenerator _generator;
    private readonly TrainingService _training;
    private readonly CancellationToken _ct = CancellationToken.None;

    public TrainingServiceTests()
    {
        var hub = HubSettings.Resolve(new ModelHubOptions { AllowDownload = false }, _ => null);
        _generator = new FluxImageGenerator(new ModelLocator(hub), new ControlNetLocator(hub), new StaticOptionsMonitor<EngineOptions>(new EngineOptions { Device = "cpu", Precision = "fp32" }),
            new StaticOptionsMonitor<StudioOptions>(_sandbox.Options), NullLogger<FluxImageGenerator>.Instance);
        var services = new ServiceCollection().AddSingleton<IImageGenerator>(_generator).BuildServiceProvider();
        _training = new TrainingService(services, new TrainedLoraCatalog(_sandbox.Loras));
    }

    public void Dispose()
    {
        _generator.Dispose();
        _sandbox.Dispose();
    }

    private string Folder(string name) => Directory.CreateDirectory(Path.Combine(_sandbox.Root, name)).FullName;

    private TrainingPlan Plan(string name, Action<JsonObject> edit) =>
        TrainingPlan.FromConfigFile(TrainingTinyRun.WriteConfig(Folder(name), edit), new TrainingOverrides(ModelPath: TrainingTinyRun.ModelFolder),
            DateTime.Now);

    private async Task<(TrainingOutcome Outcome, List<TrainingProgress> Progress)> TrainAsync(TrainingPlan plan, CancellationToken? ct = null)
    {
        var progress = new List<TrainingProgress>();
        var outcome = await _training.TrainAsync(plan, "default", new SynchronousProgress<TrainingProgress>(progress.Add), ct ?? _ct);
        return (outcome, progress);
    }

    [Fact]
    public async Task ARunWritesItsCheckpointsPlotsValidationImagesAndTheLoraWhichTheCatalogLists()
    {
        var plan = Plan("run", config =>
        {
            TrainingTinyRun.Steps(config, 4);
            TrainingTinyRun.Instrument(config, 2);
        });
        var config = plan.Config;
        var (outcome, progress) = await TrainAsync(plan);
        var output = new TrainingOutputFolder(outcome.OutputFolder);

        Assert.Equal(Path.Combine(_sandbox.Root, "run", "out"), outcome.OutputFolder);
        Assert.Equal([2, 4], output.Checkpoints().Select(c => c.Iteration));
        foreach (var (iteration, zip) in output.Checkpoints())
        {
            using var archive = ZipFile.OpenRead(zip);
            var prefix = iteration.ToString("D7");
            Assert.Equal(
                new[] { $"{prefix}_adapter.safetensors", $"{prefix}_optimizer.safetensors", $"{prefix}_iterator.json", $"{prefix}_loss.json",
                        $"{prefix}_config.json", "checkpoint.json" }.Order(),
                archive.Entries.Select(e => e.FullName).Order());
            using var checkpoint = TrainingCheckpoint.Open(zip);
            Assert.Equal(iteration, checkpoint.Iteration);
            Assert.Equal(Enumerable.Range(1, iteration), checkpoint.Losses.Select(l => l.Step));
        }
        Assert.Equal([1, 2, 3, 4], progress.Where(p => p.Stage == TrainingStage.Training && p.Loss is not null).Select(p => p.Step));

        Assert.Equal([2, 4], output.ValidationImages().Select(v => v.Iteration));
        foreach (var (_, image) in output.ValidationImages())
        {
            using var bitmap = SKBitmap.Decode(image);
            Assert.Equal((config.Width, config.Height), (bitmap.Width, bitmap.Height));
        }
        var plot = output.LatestPlot()!.Value;
        Assert.Single(Directory.GetFiles(output.PlotsFolder, "*.pdf"));
        Assert.StartsWith("%PDF-", File.ReadAllText(plot.Pdf)[..5]);
        using (var chart = SKBitmap.Decode(plot.Png))
            Assert.True(chart.Width > 0);

        using (var lora = SafetensorsFile.Open(outcome.LoraPath))
            Assert.All(lora.Names, name => Assert.Matches(@"^transformer\..*\.lora_[AB]\.weight$", name));
        var entry = _sandbox.Loras.GetSnapshot().Entries.Single(e => e.FileName == outcome.CatalogName);
        Assert.False(entry.FileMissing);
        Assert.Equal(File.ReadAllBytes(outcome.LoraPath), File.ReadAllBytes(entry.FullPath));
        Assert.NotEmpty(entry.ActivationKeyword);
        Assert.All(config.Examples.Images, image => Assert.Contains(entry.ActivationKeyword, image.Prompt));
    }

    /// <summary>
    /// A run stopped after its first checkpoint and continued from that zip ends with the same LoRA, bit for bit, and the
    /// same losses as a run that never stopped; it continues in the folder of the run it belongs to.
    /// </summary>
    [Fact]
    public async Task ARunContinuedFromACheckpointEndsExactlyAsAnUninterruptedRun()
    {
        const int total = 4, every = 2;
        void Edit(JsonObject config)
        {
            TrainingTinyRun.Steps(config, total);
            TrainingTinyRun.Instrument(config, every);
        }
        var (straight, _) = await TrainAsync(Plan("straight", Edit));

        using var stop = new CancellationTokenSource();
        var interrupted = Plan("interrupted", Edit);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _training.TrainAsync(interrupted, "default",
            new SynchronousProgress<TrainingProgress>(p =>
            {
                if (p.WrittenKind == TrainingArtifact.Checkpoint) stop.Cancel();
            }), stop.Token));
        var folder = new TrainingOutputFolder(interrupted.OutputFolder);
        Assert.Equal([every], folder.Checkpoints().Select(c => c.Iteration));
        Assert.False(File.Exists(folder.LoraPath));

        var resumed = TrainingPlan.FromCheckpoint(folder.Checkpoints().Single().Path, new TrainingOverrides(ModelPath: TrainingTinyRun.ModelFolder));
        Assert.Equal(interrupted.OutputFolder, resumed.OutputFolder);
        var (outcome, progress) = await TrainAsync(resumed);

        Assert.Equal(interrupted.OutputFolder, outcome.OutputFolder);
        Assert.Equal(total - every, progress.Count(p => p.Stage == TrainingStage.Training && p.Loss is not null));
        Assert.Equal([every, total], folder.Checkpoints().Select(c => c.Iteration));
        AssertSameTensors(straight.LoraPath, outcome.LoraPath);
        using var first = TrainingCheckpoint.Open(new TrainingOutputFolder(straight.OutputFolder).Checkpoints()[^1].Path);
        using var second = TrainingCheckpoint.Open(folder.Checkpoints()[^1].Path);
        Assert.Equal(first.Losses.Select(l => (l.Step, l.Loss)), second.Losses.Select(l => (l.Step, l.Loss)));
        AssertSameTensors(first.AdapterPath, second.AdapterPath);
        AssertSameTensors(first.OptimizerPath, second.OptimizerPath);
        Assert.Equal(first.IteratorJson.Split("start_date_time")[0], second.IteratorJson.Split("start_date_time")[0]);
    }

    /// <summary>
    /// The fixture's overfitting settings (its step count and learning rate) through the whole run, with the run's own random
    /// noise levels: the loss falls by at least a quarter, compared over the first and last five steps, as noise levels differ.
    /// </summary>
    [Fact]
    public async Task TheFixturesOverfittingSettingsLowerTheLossByAQuarter()
    {
        var optimizer = TrainingTinyRun.Manifest["optimizer"]!;
        var (outcome, progress) = await TrainAsync(Plan("overfit", config =>
        {
            TrainingTinyRun.Steps(config, optimizer["overfit_steps"]!.GetValue<int>());
            config["optimizer"]!["learning_rate"] = optimizer["lr_overfit"]!.GetValue<double>();
            config["save"]!["checkpoint_frequency"] = optimizer["overfit_steps"]!.GetValue<int>();
        }));
        var losses = progress.Where(p => p.Stage == TrainingStage.Training && p.Loss is not null).Select(p => p.Loss!.Value).ToList();

        Assert.Equal(optimizer["overfit_steps"]!.GetValue<int>(), losses.Count);
        const int window = 5;
        double first = losses.Take(window).Average(), last = losses.TakeLast(window).Average();
        Assert.True(last <= 0.75 * first, $"The loss went from {first:F4} to {last:F4} on average over {window} steps: {string.Join(", ", losses)}");
        Assert.Equal(losses[^1], outcome.LastLoss!.Value, 6);
    }

    [Fact]
    public async Task ACancelledRunLeavesOnlyWholeFilesAndNoLora()
    {
        using var stop = new CancellationTokenSource();
        var plan = Plan("cancelled", config =>
        {
            TrainingTinyRun.Steps(config, 4);
            TrainingTinyRun.Instrument(config, 1);
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _training.TrainAsync(plan, "default",
            new SynchronousProgress<TrainingProgress>(p =>
            {
                if (p.Stage == TrainingStage.Training && p.Step == 3 && p.Loss is not null) stop.Cancel();
            }), stop.Token));

        var folder = new TrainingOutputFolder(plan.OutputFolder);
        Assert.Empty(Directory.EnumerateFiles(folder.Path, "*.partial", SearchOption.AllDirectories));
        Assert.False(File.Exists(folder.LoraPath));
        Assert.Equal([1, 2], folder.Checkpoints().Select(c => c.Iteration));
        foreach (var (_, zip) in folder.Checkpoints())
        {
            using var checkpoint = TrainingCheckpoint.Open(zip);
            Assert.Equal(checkpoint.Iteration, checkpoint.Losses.Count);
        }
        Assert.Empty(_sandbox.Loras.GetSnapshot().Entries);
    }

    [Fact]
    public async Task AMissingImageIsRefusedBeforeTheModelLoadsWithItsKey()
    {
        var plan = Plan("missing", config => config["examples"]!["images"]![1]!["image"] = "no-such-image.png");
        var error = await Assert.ThrowsAsync<TrainingConfigException>(() => TrainAsync(plan));
        Assert.Equal("examples.images[1].image", Assert.Single(error.Problems).Key);
        Assert.Contains("no-such-image.png", error.Message);
        Assert.Equal(0, _generator.LoadCount);
    }

    private static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = SafetensorsFile.Open(expectedPath);
        using var actual = SafetensorsFile.Open(actualPath);
        Assert.Equal(expected.Names.Order(), actual.Names.Order());
        foreach (var name in expected.Names)
        {
            using var a = expected.Load(name);
            using var b = actual.Load(name);
            Assert.Equal(a.shape, b.shape);
            Assert.True(a.eq(b).all().item<bool>(), $"{name} differs between {expectedPath} and {actualPath}.");
        }
    }
}
