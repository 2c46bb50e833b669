using FluxStudio.App.Outputs;
using FluxStudio.Engine;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// The engine behind the queue: finds the model, keeps it loaded between jobs (reloading only when the model, path,
/// quantization or ControlNet use change; LoRAs are applied at run time), and runs the FLUX.1 pipeline. Each job is
/// checked against the memory available before its model is loaded and again before it runs.
/// </summary>
/// <param name="memory">The memory jobs are planned against (default: this machine's, within <see cref="EngineOptions.MemoryLimitGB"/>).</param>
public sealed class FluxImageGenerator(
    ModelLocator locator,
    IOptionsMonitor<EngineOptions> options,
    IOptionsMonitor<StudioOptions> studio,
    ILogger<FluxImageGenerator> logger,
    IDeviceMemory? memory = null) : IImageGenerator, IDisposable
{
    private readonly ModelCache<LoadedFluxModel> _cache = new();

    /// <summary>What is loaded now, for status displays.</summary>
    public ModelKey? LoadedModel => _cache.LoadedKey;

    public int LoadCount => _cache.LoadCount;

    public async Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken ct)
    {
        EnsureSupported(request);
        var settings = options.CurrentValue;
        var target = ComputeTarget.Resolve(settings.Device, settings.Precision);
        bool lowMemory = settings.LowMemory ?? target.IsCpu;
        var key = new ModelKey(request.Model.ToAlias(), request.Quantize, request.ModelPath, request.UsesControlNet,
            target.DeviceName, target.PrecisionName);

        var planner = new MemoryPlanner(memory ?? new SystemMemory(settings.MemoryLimitBytes));
        var memoryRequest = new MemoryRequest(request.Width, request.Height, lowMemory);
        using var lease = await _cache.AcquireAsync(key, (k, token) => LoadAsync(k, target, memoryRequest, planner, token), ct);
        var loraFolder = studio.CurrentValue.ResolveLoraFolder();
        lease.Model.UseLoras(request.Loras.Select(l => (Path.Combine(loraFolder, l.Name), l.Scale)).ToList());
        foreach (var lora in lease.Model.Loras.Where(l => l.UnmatchedKeys.Count > 0))
            logger.LogWarning("LoRA {Lora}: {Count} keys match no layer of this model and were skipped: {Keys}", Path.GetFileName(lora.Path),
                lora.UnmatchedKeys.Count, string.Join(", ", lora.UnmatchedKeys.Take(10)));
        var pipeline = new FluxPipeline(lease.Model, planner);
        var engineProgress = new SynchronousProgress<Engine.Pipeline.GenerationProgress>(p =>
        {
            if (p.Stage == GenerationStage.Denoising && p.Step > 0)
                progress.Report(new GenerationProgress(p.Step, p.Steps, p.Preview is { } preview ? PngEncoder.Encode(preview) : null));
        });
        var result = await pipeline.GenerateAsync(new FluxGenerationOptions
        {
            Prompt = request.Prompt,
            Seed = (ulong)request.Seed,
            Steps = request.Steps,
            Guidance = request.Model == FluxModel.Dev && request.Guidance is { } g ? (float)g : null,
            Width = request.Width,
            Height = request.Height,
            Previews = settings.Previews,
        }, engineProgress, ct);
        foreach (var warning in result.Warnings) logger.LogWarning("{Warning}", warning);

        return new GeneratedImage
        {
            Pixels = result.Image,
            Seed = (long)result.Seed,
            Prompt = request.Prompt,
            Device = result.Device,
            Precision = result.Precision,
            GenerationTime = result.Duration,
        };
    }

    private async Task<LoadedFluxModel> LoadAsync(ModelKey key, ComputeTarget target, MemoryRequest request, MemoryPlanner planner,
        CancellationToken ct)
    {
        logger.LogInformation("Loading {Model}", key);
        var location = await locator.LocateAsync(key.Path, key.ModelAlias, partsFolder: null, progress: null, cancellationToken: ct);
        return await Task.Run(() =>
        {
            var plan = planner.Check(location, target, key.Quantize, request);
            try
            {
                return LoadedFluxModel.Load(location, target, request.LowMemory, key.Quantize);
            }
            catch (Exception e) when (EngineMemoryException.IsAllocationFailure(e))
            {
                throw plan.Failure("loading the model", e);
            }
        }, ct);
    }

    /// <summary>Features whose engine part has not landed yet are refused plainly rather than silently skipped.</summary>
    private static void EnsureSupported(GenerationRequest request)
    {
        if (request.UsesControlNet)
            throw new NotSupportedException("ControlNet is not available yet; generate without a reference image.");
    }

    public void Dispose() => _cache.Dispose();
}
