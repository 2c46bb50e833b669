using System.CommandLine;
using System.Globalization;
using FluxStudio.App;
using FluxStudio.App.Generation;
using FluxStudio.App.Training;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Commands;

/// <summary>
/// `fluxstudio train`: LoRA training with mflux's flags, from the original app's <c>train.json</c>
/// (<c>--train-config</c>) or continued from a checkpoint zip (<c>--train-checkpoint</c>). It runs the studio's one
/// training use case (<see cref="TrainingService"/>), so the outputs are the web's: checkpoints, loss plots, validation
/// images and the LoRA under the configuration's <c>save.output_path</c>, the LoRA also in the LoRA catalog.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--train-config") { Description = "The training configuration (the original app's train.json)." };
        var checkpoint = new Option<FileInfo?>("--train-checkpoint")
        {
            Description = "Continue the run a checkpoint zip belongs to (from its _checkpoints folder), into the same output folder.",
        };
        var model = new Option<string?>("--model", "-m") { Description = "schnell or dev, instead of the configuration's model." };
        var path = new Option<string?>("--path")
        {
            Description = "A model folder (diffusers layout), a Hub cache folder, or a single-file transformer to train on. " +
                          "Default: the model in the Hugging Face cache (downloaded if missing).",
        };
        var quantize = new Option<int?>("--quantize", "-q") { Description = "4 or 8 bits, instead of the configuration's quantize." };
        var dataRoot = new Option<DirectoryInfo?>("--data-root")
        {
            Description = "The studio's data folder, whose LoRA catalog lists the trained LoRA (default: FluxStudio:DataRoot).",
        };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda, cuda:N or mps (default: FluxStudio:Engine:Device, auto)." };
        var dtype = new Option<string?>("--dtype") { Description = "auto, fp32, bf16 or fp16 (default: FluxStudio:Engine:Precision, auto)." };

        var command = new Command("train", "Train a LoRA on your images with FLUX.1, as mflux's trainer does.")
        {
            config, checkpoint, model, path, quantize, dataRoot, device, dtype,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            using var host = CliHost.Build(new Dictionary<string, string?>
            {
                [$"{StudioOptions.SectionName}:{nameof(StudioOptions.DataRoot)}"] = result.GetValue(dataRoot)?.FullName,
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Device)}"] = result.GetValue(device),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Precision)}"] = result.GetValue(dtype),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Previews)}"] = "false",
            });
            var overrides = new TrainingOverrides(result.GetValue(model), result.GetValue(path), result.GetValue(quantize));
            return await RunAsync(result.GetValue(config), result.GetValue(checkpoint), overrides, host.Services, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(FileInfo? config, FileInfo? checkpoint, TrainingOverrides overrides, IServiceProvider services,
        CancellationToken cancellationToken)
    {
        try
        {
            return await TrainAsync(config, checkpoint, overrides, services, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("Cancelled. Continue with --train-checkpoint and the last zip in the run's _checkpoints folder.");
            return ExitCodes.Cancelled;
        }
        catch (TrainingConfigException e)
        {
            foreach (var problem in e.Problems)
                await Console.Error.WriteLineAsync($"error: {problem.Message}");
            return ExitCodes.InvalidInput;
        }
        catch (Exception e) when (EngineFailure.Describe(e) is { } failure)
        {
            return await EngineFailure.ReportAsync(failure);
        }
    }

    private static async Task<int> TrainAsync(FileInfo? config, FileInfo? checkpoint, TrainingOverrides overrides, IServiceProvider services,
        CancellationToken cancellationToken)
    {
        if ((config is null) == (checkpoint is null))
            throw new ArgumentException("Give either --train-config FILE (a new run) or --train-checkpoint ZIP (continue a run), not both or neither.");
        if (overrides.Model is { } name && !FluxVariants.TryParse(name, out _))
            throw new ArgumentException($"Unknown model '{name}': use schnell or dev.");
        foreach (var file in new[] { config, checkpoint }.OfType<FileInfo>().Where(file => !file.Exists))
            throw new ArgumentException($"{file.FullName} does not exist.");

        var plan = config is not null
            ? TrainingPlan.FromConfigFile(config.FullName, overrides, DateTime.Now)
            : TrainingPlan.FromCheckpoint(checkpoint!.FullName, overrides);
        foreach (var warning in plan.Warnings)
            await Console.Error.WriteLineAsync($"warning: {warning}");
        Console.WriteLine(plan.ResumeFrom is { } zip ? $"Continuing {zip} in {plan.OutputFolder}" : $"Training into {plan.OutputFolder}");

        using var progress = new ProgressLine();
        var outcome = await services.GetRequiredService<TrainingService>().TrainAsync(plan, device: "", progress, cancellationToken);
        progress.Finish();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {outcome.Steps} steps{(outcome.LastLoss is { } loss ? $", last loss {loss:F4}" : "")}; the LoRA is {outcome.LoraPath}"));
        if (outcome.CatalogName is { } catalogName)
            Console.WriteLine(outcome.ActivationKeyword.Length > 0
                ? $"In the LoRA catalog as {catalogName} (activation keyword \"{outcome.ActivationKeyword}\")"
                : $"In the LoRA catalog as {catalogName}");
        return ExitCodes.Success;
    }

    /// <summary>A progress line on standard error (step, loss, time left) that also names each file written.</summary>
    private sealed class ProgressLine : IProgress<TrainingProgress>, IDisposable
    {
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private bool _open;

        public void Report(TrainingProgress value)
        {
            if (value.WrittenFile is { } file)
            {
                Finish();
                Console.WriteLine($"Wrote {file}");
                return;
            }
            string line = value.Stage switch
            {
                TrainingStage.LoadingModel when value.Download is { } d =>
                    $"Downloading {d.CurrentFile} ({d.FileNumber}/{d.FileCount}): {d.BytesDone >> 20} / {(d.BytesTotal ?? 0) >> 20} MiB",
                TrainingStage.LoadingModel => "Loading the model…",
                TrainingStage.EncodingImages => $"Encoding the images {value.Step}/{value.TotalSteps}…",
                TrainingStage.Training when value.Loss is { } loss => string.Create(CultureInfo.InvariantCulture,
                    $"Step {value.Step}/{value.TotalSteps}, loss {loss:F4}{(value.Remaining is { } left ? $", {Eta(left)} left" : "")}"),
                TrainingStage.ValidationImage => $"Rendering the validation image of step {value.Step}…",
                TrainingStage.Saving => "Saving the LoRA…",
                _ => "",
            };
            if (line.Length == 0) return;
            if (_terminal)
            {
                Console.Error.Write($"\r{line,-70}");
                _open = true;
            }
            else
                Console.Error.WriteLine(line);
        }

        private static string Eta(TimeSpan left) =>
            left.TotalHours >= 1 ? left.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : left.ToString(@"m\:ss", CultureInfo.InvariantCulture);

        public void Finish()
        {
            if (_open) Console.Error.WriteLine();
            _open = false;
        }

        public void Dispose() => Finish();
    }
}
