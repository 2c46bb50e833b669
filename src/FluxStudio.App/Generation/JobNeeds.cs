using FluxStudio.Engine.Models;

namespace FluxStudio.App.Generation;

/// <summary>
/// What a job needs of a worker, stored with it so that a claim takes only jobs the worker can run: the model (a FLUX.1
/// release by its alias, or the model path the request gives, which must be the same path on the worker), its
/// quantization, the image's pixels, and whether a ControlNet guides it.
/// </summary>
public sealed record JobNeeds(string Model, int? Quantize, long Pixels, bool ControlNet = false)
{
    public static JobNeeds Of(GenerationRequest request) =>
        new(ModelKey(request.ModelPath, request.Model), request.Quantize, (long)request.Width * request.Height, request.UsesControlNet);

    /// <summary>A model path in one spelling (absolute, no trailing separator), or the release's alias.</summary>
    public static string ModelKey(string? path, FluxVariant release) =>
        string.IsNullOrWhiteSpace(path) ? release.Alias() : Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
}

/// <summary>
/// One kind of job a worker can run: a model (as <see cref="JobNeeds.Model"/> names it) at a quantization (null: the
/// weights' own), up to <see cref="MaxPixels"/> pixels (null: no limit is known), and with <see cref="ControlNet"/> also
/// jobs a ControlNet guides (the worker has the ControlNet, and the pixels count with it loaded).
/// </summary>
public sealed record ModelCapacity(string Model, int? Quantize, long? MaxPixels, bool ControlNet = false)
{
    /// <summary>Whether a job with these needs fits; the claim's SQL condition (<see cref="JobStore.ClaimNextAsync"/>) says the same.</summary>
    public bool Admits(JobNeeds needs) =>
        Model == needs.Model && (Quantize ?? 0) == (needs.Quantize ?? 0) && (MaxPixels is not { } max || needs.Pixels <= max)
        && (ControlNet || !needs.ControlNet);
}

/// <summary>
/// A worker as it presents itself to the others sharing the queue: who it is, its device and memory, and what it can run.
/// </summary>
/// <param name="Id">Unique for the life of the worker's loop.</param>
/// <param name="Name">For people: the machine and the device.</param>
/// <param name="Capacities">What it can run; null runs any job, fetching a model it lacks (the one-machine studio's worker).</param>
public sealed record WorkerProfile(string Id, string Name, string Device, long? MemoryBytes, IReadOnlyList<ModelCapacity>? Capacities)
{
    public bool CanRun(JobNeeds needs) => Capacities is null || Capacities.Any(capacity => capacity.Admits(needs));

    /// <summary>The worker of a studio on one machine: it runs every job, as it always has.</summary>
    public static WorkerProfile Local(string device) =>
        new(Guid.NewGuid().ToString("N"), $"{Environment.MachineName}/{device}", device, null, null);
}
