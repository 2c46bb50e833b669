using System.Runtime.CompilerServices;
using FluxStudio.App.Outputs;
using FluxStudio.Engine;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// The engine behind <see cref="ImageGenerationService"/>: finds the model (downloading it when allowed), keeps it
/// loaded between images (reloading only when the model, path, quantization, device or precision change; LoRAs and
/// the ControlNet are attached at run time, the ControlNet only while a request uses it), and runs the FLUX.1 pipeline,
/// encoding a batch's prompt once. Each request is checked against the memory available before its model is loaded and
/// again before it runs, the ControlNet and the start picture included.
/// </summary>
/// <param name="memory">The memory jobs are planned against (default: this machine's, within <see cref="EngineOptions.MemoryLimitGB"/>).</param>
public sealed class FluxImageGenerator(
    ModelLocator locator,
    ControlNetLocator controlNets,
    IOptionsMonitor<EngineOptions> options,
    IOptionsMonitor<StudioOptions> studio,
    ILogger<FluxImageGenerator> logger,
    IDeviceMemory? memory = null) : IImageGenerator, IDisposable
{
    private readonly ModelCache<LoadedFluxModel> _cache = new();

    /// <summary>What is loaded now, for status displays.</summary>
    public ModelKey? LoadedModel => _cache.LoadedKey;

    public int LoadCount => _cache.LoadCount;

    /// <summary>The ControlNet attached to the loaded model now, if any.</summary>
    public string? LoadedControlNet { get; private set; }

    public async IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var settings = options.CurrentValue;
        var target = ComputeTarget.Resolve(settings.Device, settings.Precision);
        bool lowMemory = settings.LowMemory ?? target.IsCpu;
        var key = new ModelKey(request.Model.Alias(), request.Quantize, request.ModelPath, target.DeviceName, target.PrecisionName);
        var seeds = request.Seeds.Count > 0 ? request.Seeds : [request.Seed];
        var engineOptions = await Task.Run(() => ToEngineOptions(request, settings.Previews), ct);
        var controlNet = request.UsesControlNet
            ? await controlNets.LocateAsync(string.IsNullOrWhiteSpace(settings.ControlNetPath) ? null : settings.ControlNetPath,
                DownloadProgress(progress), ct)
            : null;

        var planner = new MemoryPlanner(memory ?? new SystemMemory(settings.MemoryLimitBytes));
        var memoryRequest = new MemoryRequest(request.Width, request.Height, lowMemory, engineOptions.InitImage is { Strength: > 0 });
        using var lease = await _cache.AcquireAsync(key,
            (k, token) => LoadAsync(k, target, memoryRequest, controlNet, planner, progress, token), ct);
        // Names are files in the LoRA folder; full paths stay as they are.
        var loraFolder = studio.CurrentValue.ResolveLoraFolder();
        await ComputeThreads.Run(() =>
        {
            lease.Model.UseLoras(request.Loras.Select(l => (Path.Combine(loraFolder, l.Name), l.Scale)).ToList());
            // Attached only while requests use it: one without a reference picture frees it.
            lease.Model.UseControlNet(controlNet);
        }, ct);
        LoadedControlNet = controlNet;

        var pipeline = new FluxPipeline(lease.Model, planner);
        using var prepared = await pipeline.PrepareAsync(engineOptions, EngineProgress(progress, 1, seeds.Count), ct);
        for (int i = 0; i < seeds.Count; i++)
            yield return new GeneratedImage(await prepared.GenerateAsync((ulong)seeds[i], EngineProgress(progress, i + 1, seeds.Count), ct));
    }

    /// <summary>
    /// The model a LoRA training run trains on, from the cache the images come from: the loaded one when it is the same,
    /// and left loaded after the run, so an image made with the trained LoRA right away needs no reload. No LoRA and no
    /// ControlNet are attached to it while the lease is held.
    /// </summary>
    public async Task<ModelCache<LoadedFluxModel>.Lease> AcquireForTrainingAsync(FluxVariant model, int? quantize, string? path,
        int width, int height, IProgress<GenerationProgress> progress, CancellationToken ct)
    {
        var settings = options.CurrentValue;
        var target = ComputeTarget.Resolve(settings.Device, settings.Precision);
        var key = new ModelKey(model.Alias(), quantize, path, target.DeviceName, target.PrecisionName);
        var planner = new MemoryPlanner(memory ?? new SystemMemory(settings.MemoryLimitBytes));
        var memoryRequest = new MemoryRequest(width, height, settings.LowMemory ?? target.IsCpu);
        var lease = await _cache.AcquireAsync(key, (k, token) => LoadAsync(k, target, memoryRequest, null, planner, progress, token), ct);
        try
        {
            await ComputeThreads.Run(() =>
            {
                lease.Model.UseLoras([]);
                lease.Model.UseControlNet(null);
            }, ct);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
        LoadedControlNet = null;
        return lease;
    }

    /// <summary>
    /// The request in the engine's terms, with its pictures read. Steps and guidance pass through as given: the engine
    /// fills in what is empty from the weights it loaded, and ignores guidance (with a warning) where the weights have no
    /// guidance input.
    /// </summary>
    /// <exception cref="InvalidDataException">A picture cannot be decoded; the message names it.</exception>
    public static FluxGenerationOptions ToEngineOptions(GenerationRequest request, bool previews) => new()
    {
        Prompt = request.Prompt,
        Seed = (ulong)request.Seed,
        Steps = request.Steps,
        Guidance = request.Guidance is { } guidance ? (float)guidance : null,
        Width = request.Width,
        Height = request.Height,
        Previews = previews,
        ControlNet = request.UsesControlNet
            ? new ControlNetConditioning(RgbImageFile.Read(request.ControlNetImagePath!), (float)request.ControlNetStrength, request.ControlNetEncoding)
            : null,
        InitImage = request.UsesInitImage ? new InitImage(RgbImageFile.Read(request.InitImagePath!), request.ImageStrength) : null,
    };

    private static SynchronousProgress<Engine.Pipeline.GenerationProgress> EngineProgress(IProgress<GenerationProgress> progress, int image,
        int images) => new(p => progress.Report(
        new GenerationProgress(p.Step, p.Steps, p.Preview is { } preview ? PngEncoder.Encode(preview) : null)
        {
            Stage = p.Stage, Image = image, Images = images,
        }));

    private static SynchronousProgress<DownloadProgress> DownloadProgress(IProgress<GenerationProgress> progress) => new(d =>
        progress.Report(new GenerationProgress(d.FileNumber, d.FileCount) { Stage = GenerationStage.LoadingModel, Download = d }));

    /// <summary>Finds the model, checks that the image fits with it (and the ControlNet) loaded, then loads it.</summary>
    private async Task<LoadedFluxModel> LoadAsync(ModelKey key, ComputeTarget target, MemoryRequest request, string? controlNet,
        MemoryPlanner planner, IProgress<GenerationProgress> progress, CancellationToken ct)
    {
        logger.LogInformation("Loading {Model}", key);
        progress.Report(new GenerationProgress(0, 0) { Stage = GenerationStage.LoadingModel });
        var location = await locator.LocateAsync(key.Path, key.ModelAlias, partsFolder: null, DownloadProgress(progress), ct);
        return await ComputeThreads.Run(() =>
        {
            var plan = planner.Check(location, target, key.Quantize, request, controlNet);
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

    public void Dispose() => _cache.Dispose();
}
