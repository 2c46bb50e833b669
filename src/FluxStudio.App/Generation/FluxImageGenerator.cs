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
/// The engine behind <see cref="ImageGenerationService"/>: finds the model (downloading it when allowed), keeps it
/// loaded between images (reloading only when the model, path, quantization, ControlNet use, device or precision
/// change; LoRAs are applied at run time), and runs the FLUX.1 pipeline. Each image is checked against the memory
/// available before its model is loaded and again before it runs.
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
        var key = new ModelKey(request.Model.Alias(), request.Quantize, request.ModelPath, request.UsesControlNet,
            target.DeviceName, target.PrecisionName);

        var planner = new MemoryPlanner(memory ?? new SystemMemory(settings.MemoryLimitBytes));
        var memoryRequest = new MemoryRequest(request.Width, request.Height, lowMemory);
        using var lease = await _cache.AcquireAsync(key, (k, token) => LoadAsync(k, target, memoryRequest, planner, progress, token), ct);
        // Names are files in the LoRA folder; full paths stay as they are.
        var loraFolder = studio.CurrentValue.ResolveLoraFolder();
        lease.Model.UseLoras(request.Loras.Select(l => (Path.Combine(loraFolder, l.Name), l.Scale)).ToList());
        var engineProgress = new SynchronousProgress<Engine.Pipeline.GenerationProgress>(p => progress.Report(
            new GenerationProgress(p.Step, p.Steps, p.Preview is { } preview ? PngEncoder.Encode(preview) : null) { Stage = p.Stage }));
        return new GeneratedImage(await new FluxPipeline(lease.Model, planner).GenerateAsync(ToEngineOptions(request, settings.Previews), engineProgress, ct));
    }

    /// <summary>
    /// The request in the engine's terms. Steps and guidance pass through as given: the engine fills in what is empty
    /// from the weights it loaded, and ignores guidance (with a warning) where the weights have no guidance input.
    /// </summary>
    public static FluxGenerationOptions ToEngineOptions(GenerationRequest request, bool previews) => new()
    {
        Prompt = request.Prompt,
        Seed = (ulong)request.Seed,
        Steps = request.Steps,
        Guidance = request.Guidance is { } guidance ? (float)guidance : null,
        Width = request.Width,
        Height = request.Height,
        Previews = previews,
    };

    /// <summary>Finds the model, checks that the image fits with it loaded, then loads it.</summary>
    private async Task<LoadedFluxModel> LoadAsync(ModelKey key, ComputeTarget target, MemoryRequest request, MemoryPlanner planner,
        IProgress<GenerationProgress> progress, CancellationToken ct)
    {
        logger.LogInformation("Loading {Model}", key);
        progress.Report(new GenerationProgress(0, 0) { Stage = GenerationStage.LoadingModel });
        var download = new SynchronousProgress<DownloadProgress>(d =>
            progress.Report(new GenerationProgress(d.FileNumber, d.FileCount) { Stage = GenerationStage.LoadingModel, Download = d }));
        var location = await locator.LocateAsync(key.Path, key.ModelAlias, partsFolder: null, download, ct);
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
