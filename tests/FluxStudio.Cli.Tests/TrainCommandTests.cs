using System.IO.Compression;
using System.Text.Json.Nodes;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Cli.Tests;

/// <summary>`train` on training-tiny's configuration and images, training pipeline-tiny's model in fp32 on the CPU.</summary>
public sealed class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-cli-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DataRoot => Path.Combine(_dir, "data");

    private Task<CliProcess.Result> RunAsync(params string[] arguments) =>
        CliProcess.RunAsync([.. arguments, "--path", TrainingTinyRun.ModelFolder, "--device", "cpu", "--dtype", "fp32", "--data-root", DataRoot]);

    /// <summary>Four steps, everything written every two; a learning rate high enough that four steps change an image.</summary>
    private string WriteConfig(Action<JsonObject>? edit = null) => TrainingTinyRun.WriteConfig(_dir, config =>
    {
        TrainingTinyRun.Steps(config, 4);
        TrainingTinyRun.Instrument(config, 2);
        config["optimizer"]!["learning_rate"] = 1e-2;
        edit?.Invoke(config);
    });

    [Fact]
    public async Task WritesCheckpointsPlotsValidationImagesAndALoraThatGenerateLoadsAndThatChangesTheImage()
    {
        var result = await RunAsync("train", "--train-config", WriteConfig());
        Assert.True(result.ExitCode == 0, result.StandardError);
        var output = Path.Combine(_dir, "out");

        var zips = Directory.GetFiles(Path.Combine(output, "_checkpoints"), "*.zip").Order().ToList();
        Assert.Equal(["0000002_checkpoint.zip", "0000004_checkpoint.zip"], zips.Select(Path.GetFileName));
        foreach (var zip in zips)
        {
            using var archive = ZipFile.OpenRead(zip);
            var prefix = Path.GetFileName(zip)[..7];
            Assert.Equal(
                new[] { "adapter.safetensors", "optimizer.safetensors", "iterator.json", "loss.json", "config.json" }
                    .Select(name => $"{prefix}_{name}").Append("checkpoint.json").Order(),
                archive.Entries.Select(entry => entry.FullName).Order());
        }
        var plots = Path.Combine(output, "_validation", "plots");
        Assert.StartsWith("%PDF-", File.ReadAllText(Assert.Single(Directory.GetFiles(plots, "*.pdf")))[..5]);
        Assert.Single(Directory.GetFiles(plots, "*.png"));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(output, "_validation", "images"), "*.png").Length);
        Assert.Contains("Step 4/4, loss", result.StandardError);

        var lora = Path.Combine(output, "lora.safetensors");
        Assert.True(File.Exists(lora));
        Assert.Contains("activation keyword \"sks\"", result.StandardOutput);

        string[] image = ["generate", "--prompt", "photo of sks toy", "--model", "dev", "--width", "48", "--height", "32", "--steps", "2", "--seed", "7"];
        var plain = await RunAsync([.. image, "--output", Path.Combine(_dir, "plain.png")]);
        var withLora = await RunAsync([.. image, "--output", Path.Combine(_dir, "lora.png"), "--lora-paths", lora]);
        Assert.True(plain.ExitCode == 0, plain.StandardError);
        Assert.True(withLora.ExitCode == 0, withLora.StandardError);
        Assert.NotEqual(RgbImageFile.Read(Path.Combine(_dir, "plain.png")).Pixels, RgbImageFile.Read(Path.Combine(_dir, "lora.png")).Pixels);
    }

    [Fact]
    public async Task ContinuingFromACheckpointEndsWithTheSameLoraInTheSameFolder()
    {
        var first = await RunAsync("train", "--train-config", WriteConfig());
        Assert.True(first.ExitCode == 0, first.StandardError);
        var output = Path.Combine(_dir, "out");
        var straight = File.ReadAllBytes(Path.Combine(output, "lora.safetensors"));
        File.Delete(Path.Combine(output, "lora.safetensors"));

        var resumed = await RunAsync("train", "--train-checkpoint", Path.Combine(output, "_checkpoints", "0000002_checkpoint.zip"));

        Assert.True(resumed.ExitCode == 0, resumed.StandardError);
        Assert.Contains("Step 4/4", resumed.StandardError);
        Assert.DoesNotContain("Step 1/4", resumed.StandardError);
        Assert.Equal(straight, File.ReadAllBytes(Path.Combine(output, "lora.safetensors")));
    }

    [Fact]
    public async Task AnInvalidConfigurationExitsWithCodeTwoAndNamesTheKey()
    {
        var result = await RunAsync("train", "--train-config", WriteConfig(config => config["training_loop"]!["batch_size"] = 0));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("batch_size", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }

    [Fact]
    public async Task NeedsExactlyOneOfConfigurationAndCheckpoint()
    {
        var result = await RunAsync("train");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--train-config", result.StandardError);
    }
}
