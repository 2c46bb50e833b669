using System.Diagnostics;
using System.Globalization;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace FluxStudio.App.Generation;

/// <summary>
/// What a worker on this machine can run, for a shared queue: the models present (the FLUX.1 releases in the models root
/// or the Hugging Face cache, and the paths in <see cref="WorkerOptions.Models"/>), and for each, at each quantization,
/// the largest image its device's memory holds. A worker claims only jobs within that (<see cref="JobStore.ClaimNextAsync"/>).
/// </summary>
/// <remarks>
/// The memory rule is deliberately coarse: the weights (their files' size, scaled to the precision and quantization they
/// run in) plus, per pixel, the widest transformer step's activations (about 38 hidden-size vectors per image token).
/// </remarks>
public sealed class WorkerCapabilities(
    IOptions<StudioOptions> studio,
    IOptions<EngineOptions> engine,
    ModelLocator? locator = null,
    ILogger<WorkerCapabilities>? logger = null)
{
    /// <summary>Kept free beyond the estimate: the runtime, allocator slack, the text encoders' activations.</summary>
    private const long ReserveBytes = 1L << 30;

    private static readonly int?[] Quantizations = [null, 8, 4];

    private readonly ILogger _logger = logger ?? NullLogger<WorkerCapabilities>.Instance;

    public WorkerProfile Describe(string device)
    {
        var options = studio.Value.Worker;
        var target = ComputeTarget.Resolve(device == "default" ? engine.Value.Device : device, engine.Value.Precision);
        var memory = options.MemoryGB is { } gb ? (long)(gb * (1L << 30)) : DeviceMemoryBytes(target);
        var capacities = new List<ModelCapacity>();
        foreach (var (key, location) in PresentModels(options.Models))
            capacities.AddRange(CapacitiesOf(key, location, target, memory));
        var name = options.Name is { Length: > 0 } given ? given : $"{Environment.MachineName}/{target.DeviceName}";
        return new WorkerProfile(Guid.NewGuid().ToString("N"), name, device, memory, capacities);
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

    private IEnumerable<ModelCapacity> CapacitiesOf(string key, ModelLocation location, ComputeTarget target, long? memory)
    {
        var element = target.DType == torch.ScalarType.Float32 ? 4 : 2;
        long bytesPerPixel, quantizable, others;
        try
        {
            var config = FluxTransformer.ReadConfig(location.TransformerPath, location.TransformerParamsJson);
            var tokenSide = ImageSizeRule.ForVae(location.VaePath).Multiple;
            bytesPerPixel = Math.Max(1, 38L * config.HiddenSize * element / (tokenSide * tokenSide));
            // Published weights are bf16, two bytes each; the transformer's and T5's are the ones quantization shrinks.
            quantizable = (FilesSize(location.TransformerPath) + FilesSize(location.TextEncoder2Path)) / 2;
            others = (FilesSize(location.TextEncoderPath) + FilesSize(location.VaePath)) / 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            _logger.LogWarning(e, "The model {Model} could not be read; this worker does not offer it", key);
            yield break;
        }
        foreach (var bits in Quantizations)
        {
            if (memory is not { } available)
            {
                yield return new ModelCapacity(key, bits, null);
                continue;
            }
            // Group-wise quantization: the bits of each weight plus a bf16 scale and bias per 64 weights.
            var perWeight = bits is { } b ? b / 8.0 + 4 / 64.0 : element;
            var room = available - ReserveBytes - (long)(quantizable * perWeight) - others * element;
            if (room > 0)
                yield return new ModelCapacity(key, bits, room / bytesPerPixel);
        }
    }

    private static long FilesSize(string path) =>
        File.Exists(path) ? new FileInfo(path).Length
        : Directory.Exists(path) ? Directory.EnumerateFiles(path, "*.safetensors", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
        : 0;

    /// <summary>A GPU's memory as the NVIDIA driver reports it; the RAM .NET sees (the machine's, or its container's limit) otherwise.</summary>
    private long? DeviceMemoryBytes(ComputeTarget target)
    {
        if (target.DeviceType != DeviceType.CUDA)
            return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nvidia-smi",
                ["--query-gpu=memory.total", "--format=csv,noheader,nounits", $"--id={Math.Max(0, target.DeviceIndex)}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            var output = process?.StandardOutput.ReadToEnd();
            process?.WaitForExit();
            if (double.TryParse(output?.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var mebibytes))
                return (long)(mebibytes * (1 << 20));
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
        }
        _logger.LogWarning("The memory of {Device} is unknown; set {Setting} so this worker claims only images that fit",
            target.DeviceName, $"{StudioOptions.SectionName}:Worker:MemoryGB");
        return null;
    }
}
