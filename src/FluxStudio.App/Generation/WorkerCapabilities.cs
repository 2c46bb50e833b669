using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// What a worker on this machine can run, for a shared queue: the models present (the FLUX.1 releases in the models root
/// or the Hugging Face cache, and the paths in <see cref="WorkerOptions.Models"/>), and for each, at each quantization,
/// the largest image the device's free memory holds by the engine's own estimate (<see cref="GenerationMemory"/>), without
/// and, when the ControlNet (<see cref="EngineOptions.ControlNetPath"/>, else InstantX's Canny model in the cache) is on
/// this machine, with it. A worker claims only jobs within that (<see cref="JobStore.ClaimNextAsync"/>).
/// </summary>
/// <param name="memory">The memory planned with (default: this machine's, within <see cref="EngineOptions.MemoryLimitGB"/>).</param>
public sealed class WorkerCapabilities(
    IOptions<StudioOptions> studio,
    IOptions<EngineOptions> engine,
    ModelLocator? locator = null,
    ILogger<WorkerCapabilities>? logger = null,
    IDeviceMemory? memory = null,
    ControlNetLocator? controlNets = null)
{
    private static readonly int?[] Quantizations = [null, 8, 4];

    private readonly ILogger _logger = logger ?? NullLogger<WorkerCapabilities>.Instance;

    public WorkerProfile Describe(string device)
    {
        var options = studio.Value.Worker;
        var settings = engine.Value;
        var target = ComputeTarget.Resolve(device == "default" ? settings.Device : device, settings.Precision);
        var available = (memory ?? new SystemMemory(settings.MemoryLimitBytes)).AvailableBytes(target);
        var request = new MemoryRequest(0, 0, settings.LowMemory ?? target.IsCpu);
        var controlNet = PresentControlNet(settings.ControlNetPath);
        var capacities = PresentModels(options.Models)
            .SelectMany(model => CapacitiesOf(model.Key, model.Location, controlNet, target, request, available)).ToList();
        var name = options.Name is { Length: > 0 } given ? given : $"{Environment.MachineName}/{target.DeviceName}";
        return new WorkerProfile(Guid.NewGuid().ToString("N"), name, device, available, capacities);
    }

    private IEnumerable<(string Key, ModelLocation Location)> PresentModels(IEnumerable<string> paths)
    {
        if (locator is null)
            yield break;
        foreach (var release in Enum.GetValues<FluxVariant>())
        {
            if (TryLocate(null, release) is { } location)
                yield return (JobNeeds.ModelKey(null, release), location);
        }
        foreach (var path in paths.Where(p => !string.IsNullOrWhiteSpace(p)))
        {
            if (TryLocate(path, FluxVariant.Schnell) is { } location)
                yield return (JobNeeds.ModelKey(path, FluxVariant.Schnell), location);
            else
                _logger.LogWarning("The model {Path} in {Setting} is not there or not complete; this worker does not offer it",
                    path, $"{StudioOptions.SectionName}:Worker:Models");
        }
    }

    private string? PresentControlNet(string? path)
    {
        try
        {
            return controlNets?.Locate(string.IsNullOrWhiteSpace(path) ? null : path);
        }
        catch (Exception e) when (e is ModelNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private ModelLocation? TryLocate(string? path, FluxVariant release)
    {
        try
        {
            return locator!.Locate(path, release.Alias());
        }
        catch (Exception e) when (e is ModelNotFoundException or IncompleteModelException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private IEnumerable<ModelCapacity> CapacitiesOf(string key, ModelLocation location, string? controlNet, ComputeTarget target,
        MemoryRequest request, long? available)
    {
        ModelFootprint footprint;
        try
        {
            footprint = ModelFootprint.Read(location, target.DType, null);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            _logger.LogWarning(e, "The model {Model} could not be read; this worker does not offer it", key);
            yield break;
        }
        var sizeRule = ImageSizeRule.ForVae(footprint.Vae);
        foreach (var bits in Quantizations)
        {
            // Weights stored quantized load at their own bit width whatever a job asks.
            var loaded = bits is not { } b || footprint.StoredQuantized ? footprint : footprint.Requantized(b)!;
            var guided = controlNet is null ? null : WithControlNet(loaded, controlNet, key);
            foreach (var (model, withControlNet) in new[] { (loaded, false), (guided, true) })
            {
                if (model is null)
                    continue;
                if (available is not { } bytes)
                    yield return new ModelCapacity(key, bits, null, withControlNet);
                else if (LargestSide(model, sizeRule, request, bytes) is > 0 and var side)
                    yield return new ModelCapacity(key, bits, (long)side * side, withControlNet);
            }
        }
    }

    private ModelFootprint? WithControlNet(ModelFootprint model, string folder, string key)
    {
        try
        {
            return model.WithControlNet(folder);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            _logger.LogWarning(e, "The ControlNet {Folder} could not be read; this worker does not offer it with {Model}", folder, key);
            return null;
        }
    }

    /// <summary>The side of the largest square image whose generation fits in <paramref name="bytes"/>; 0 when none does.</summary>
    private static int LargestSide(ModelFootprint model, ImageSizeRule rule, MemoryRequest request, long bytes)
    {
        bool Fits(int multiples) =>
            GenerationMemory.Estimate(model, request with { Width = multiples * rule.Multiple, Height = multiples * rule.Multiple }).TotalBytes <= bytes;
        int fitting = 0, tooLarge = ImageSizeRule.MaxSide / rule.Multiple + 1;
        while (tooLarge - fitting > 1)
        {
            var middle = (fitting + tooLarge) / 2;
            if (Fits(middle))
                fitting = middle;
            else
                tooLarge = middle;
        }
        return fitting * rule.Multiple;
    }
}
