using System.Diagnostics;
using FluxStudio.App.Generation;
using FluxStudio.App.Outputs;
using FluxStudio.Engine;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using GenerationProgress = FluxStudio.App.Generation.GenerationProgress;

namespace FluxStudio.App.Training;

/// <summary>A finished training run: where its outputs are, the LoRA as the catalog lists it, and its last loss.</summary>
public sealed record TrainingOutcome(string OutputFolder, string LoraPath, string? CatalogName, string ActivationKeyword, int Steps,
    double? LastLoss, IReadOnlyList<string> Warnings);

/// <summary>
/// The one way the studio trains a LoRA, called by the queue's worker (web UI and REST API) and by the CLI, as the
/// original app's trainer does it: the images read and resized to the training size (Lanczos, as Pillow), the model loaded
/// (the device's generation model, shared), the images and captions encoded once, then step after step with the loss of
/// each recorded; every <c>plot_frequency</c> steps the loss plot (PDF and PNG), every <c>generate_image_frequency</c>
/// steps a validation image, every <c>checkpoint_frequency</c> steps and at the end a checkpoint zip; at the end the LoRA
/// (<c>lora.safetensors</c>, PEFT names), which also goes into the LoRA catalog with the captions' trigger word.
/// </summary>
public sealed class TrainingService(IServiceProvider services, TrainedLoraCatalog loras, ILogger<TrainingService>? logger = null, TimeProvider? time = null)
{
    private readonly ILogger<TrainingService> _logger = logger ?? NullLogger<TrainingService>.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <param name="device">The queue device whose generation model is used (and kept loaded) for training.</param>
    /// <exception cref="TrainingConfigException">The configuration or its images cannot be used; the problems name the keys.</exception>
    /// <exception cref="FormatException">The checkpoint continued from is not one, or does not belong to this configuration.</exception>
    public async Task<TrainingOutcome> TrainAsync(TrainingPlan plan, string device, IProgress<TrainingProgress> progress, CancellationToken ct)
    {
        var config = plan.Config;
        if (config.KeyedProblems() is { Count: > 0 } problems) throw new TrainingConfigException(problems);
        using var checkpoint = plan.ResumeFrom is { } zip ? TrainingCheckpoint.Open(zip) : null;
        var samples = await Task.Run(() => ReadImages(config, ct), ct);
        if (!FluxVariants.TryParse(config.Model, out var variant))
            throw new TrainingConfigException("model", $"The model must be \"dev\" or \"schnell\", not \"{config.Model}\".");

        progress.Report(new TrainingProgress(TrainingStage.LoadingModel, 0, 0));
        var loading = new SynchronousProgress<GenerationProgress>(p =>
        {
            if (p.Download is { } download) progress.Report(new TrainingProgress(TrainingStage.LoadingModel, 0, 0) { Download = download });
        });
        using var lease = await Generator(device).AcquireForTrainingAsync(variant, config.Quantize, plan.ModelPath, config.Width, config.Height,
            loading, ct);
        var outcome = await ComputeThreads.Run(() => Train(plan, config, new FluxPipeline(lease.Model), samples, checkpoint, progress, ct), ct);
        return await RegisterAsync(plan, config, outcome, ct);
    }

    private TrainingOutcome Train(TrainingPlan plan, TrainingConfig config, FluxPipeline pipeline, IReadOnlyList<TrainingSample> samples,
        TrainingCheckpoint? checkpoint, IProgress<TrainingProgress> progress, CancellationToken ct)
    {
        var output = new TrainingOutputFolder(plan.OutputFolder);
        Directory.CreateDirectory(output.Path);
        var encoding = new SynchronousProgress<TrainingPreparation>(p =>
            progress.Report(new TrainingProgress(TrainingStage.EncodingImages, p.Done, p.Count)));
        using var session = LoraTrainingSession.Open(pipeline, config, samples, checkpoint?.ResumePoint, encoding, ct);
        var losses = (checkpoint?.Losses ?? []).Where(point => point.Step <= session.Iteration).ToList();
        var plotRun = new LossPlot.Run(config.Width, config.Height, session.TotalSteps);
        _logger.LogInformation("Training {Folder}: {Start} of {Total} steps done", output.Path, session.Iteration, session.TotalSteps);
        progress.Report(new TrainingProgress(TrainingStage.Training, session.Iteration, session.TotalSteps) { EarlierLosses = losses.ToList() });

        var instrumentation = config.Instrumentation;
        var clock = Stopwatch.StartNew();
        int firstStep = session.Iteration;
        while (session.Step(ct) is { } step)
        {
            int iteration = session.Iteration;
            losses.Add(new LossPoint(iteration, step.Loss, _time.GetLocalNow().DateTime));
            var remaining = clock.Elapsed / (iteration - firstStep) * (session.TotalSteps - iteration);
            progress.Report(new TrainingProgress(TrainingStage.Training, iteration, session.TotalSteps) { Loss = step.Loss, Remaining = remaining });

            if (instrumentation is not null && iteration % instrumentation.PlotFrequency == 0)
                Report(progress, session, TrainingArtifact.LossPlot, WritePlot(output, losses, plotRun, iteration));
            if (instrumentation is not null && iteration % instrumentation.GenerateImageFrequency == 0)
            {
                progress.Report(new TrainingProgress(TrainingStage.ValidationImage, iteration, session.TotalSteps));
                var image = session.ValidationImage(instrumentation.ValidationPrompt, ct);
                var path = output.ValidationImagePath(iteration);
                Write(path, PngEncoder.Encode(image.Image));
                Report(progress, session, TrainingArtifact.ValidationImage, path);
            }
            if (iteration % config.Save.CheckpointFrequency == 0)
                Report(progress, session, TrainingArtifact.Checkpoint, WriteCheckpoint(output, session, losses, samples.Count));
        }

        progress.Report(new TrainingProgress(TrainingStage.Saving, session.Iteration, session.TotalSteps));
        Report(progress, session, TrainingArtifact.Checkpoint, WriteCheckpoint(output, session, losses, samples.Count));
        if (losses.Count > 0)
            Report(progress, session, TrainingArtifact.LossPlot, WritePlot(output, losses, plotRun, session.Iteration));
        var partial = output.LoraPath + ".partial";
        session.SaveLora(partial);
        File.Move(partial, output.LoraPath, overwrite: true);
        Report(progress, session, TrainingArtifact.Lora, output.LoraPath);
        _logger.LogInformation("Training {Folder} done after {Steps} steps", output.Path, session.Iteration);
        return new TrainingOutcome(output.Path, output.LoraPath, null, "", session.Iteration, losses.Count > 0 ? losses[^1].Loss : null,
            plan.Warnings);
    }

    /// <summary>Copies the LoRA into the LoRA folder and lists it in the catalog with the captions' trigger word.</summary>
    private async Task<TrainingOutcome> RegisterAsync(TrainingPlan plan, TrainingConfig config, TrainingOutcome outcome, CancellationToken ct)
    {
        var keyword = plan.TriggerWord ?? TriggerWord.FromCaptions([.. config.Examples.Images.Select(image => image.Prompt)]);
        var name = await loras.AddAsync(outcome.LoraPath, plan.LoraName ?? Path.GetFileName(outcome.OutputFolder),
            $"Trained on {config.Examples.Images.Count} images for {outcome.Steps} steps ({outcome.OutputFolder})", keyword, ct);
        _logger.LogInformation("The trained LoRA is in the catalog as {Name}", name);
        return outcome with { CatalogName = name, ActivationKeyword = keyword };
    }

    private static void Report(IProgress<TrainingProgress> progress, LoraTrainingSession session, TrainingArtifact kind, string path) =>
        progress.Report(new TrainingProgress(TrainingStage.Training, session.Iteration, session.TotalSteps) { WrittenFile = path, WrittenKind = kind });

    /// <summary>The images at the training size, read as the original app reads them (RGB, resized with Lanczos when the size differs).</summary>
    private static List<TrainingSample> ReadImages(TrainingConfig config, CancellationToken ct)
    {
        var samples = new List<TrainingSample>();
        for (int i = 0; i < config.Examples.Images.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var example = config.Examples.Images[i];
            var path = Path.GetFullPath(example.Image, config.Examples.Path);
            RgbImage image;
            try
            {
                image = RgbImageFile.Read(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                var problem = e is FileNotFoundException or DirectoryNotFoundException
                    ? $"{path} does not exist; check examples.path and the image's name."
                    : $"{path} cannot be read as an image: {e.Message}";
                throw new TrainingConfigException($"examples.images[{i}].image", $"examples.images[{i}].image: {problem}");
            }
            samples.Add(new TrainingSample(LanczosResize.Resize(image, config.Width, config.Height), example.Prompt));
        }
        return samples;
    }

    private static string WritePlot(TrainingOutputFolder output, IReadOnlyList<LossPoint> losses, LossPlot.Run run, int iteration)
    {
        var previous = output.LatestPlot();
        var png = LossPlot.Png(losses, run);
        var pngPath = output.PlotPath(iteration, ".png");
        Write(output.PlotPath(iteration, ".pdf"), LossPlot.Pdf(losses, run, png));
        Write(pngPath, png);
        // Each plot holds every step so far: the latest is all there is to keep.
        if (previous is { } old && old.Pdf != output.PlotPath(iteration, ".pdf"))
        {
            File.Delete(old.Pdf);
            File.Delete(old.Png);
        }
        return pngPath;
    }

    private string WriteCheckpoint(TrainingOutputFolder output, LoraTrainingSession session, IReadOnlyList<LossPoint> losses, int exampleCount)
    {
        var path = output.CheckpointPath(session.Iteration);
        TrainingCheckpoint.Write(path, new TrainingCheckpoint.Contents(session.Iteration, session.IteratorJson, losses, session.Config.ToJson(),
            exampleCount, session.Iterator.StartTime, _time.GetLocalNow().DateTime), session.SaveState);
        return path;
    }

    private static void Write(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = path + ".partial";
        File.WriteAllBytes(partial, bytes);
        File.Move(partial, path, overwrite: true);
    }

    /// <summary>The FLUX.1 engine of the device: its generator when that is the engine itself, else the engine the generator wraps.</summary>
    private FluxImageGenerator Generator(string device) =>
        (services as IKeyedServiceProvider)?.GetKeyedService<IImageGenerator>(device) as FluxImageGenerator
        ?? services.GetService<IImageGenerator>() as FluxImageGenerator
        ?? services.GetService<FluxImageGenerator>()
        ?? throw new NotSupportedException($"Training needs the FLUX.1 engine, which is not installed for device \"{device}\".");
}
