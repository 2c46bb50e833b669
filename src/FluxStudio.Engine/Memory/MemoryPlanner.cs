using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Memory;

/// <summary>
/// Checks a generation against the memory the machine has before anything is allocated for it, and finds what would
/// fit when it does not: a smaller image of the same shape, 8- or 4-bit weights, low-memory mode, or these together.
/// </summary>
public sealed class MemoryPlanner(IDeviceMemory memory)
{
    /// <summary>Against this machine's free memory.</summary>
    public static MemoryPlanner ForThisMachine { get; } = new(new SystemMemory());

    /// <summary>Before the model is loaded: every part it will load counts.</summary>
    /// <param name="controlNetFolder">The ControlNet that will guide the generation, if one will.</param>
    /// <exception cref="EngineMemoryException">The generation cannot fit; the exception says what would.</exception>
    public MemoryPlan Check(ModelLocation location, ComputeTarget target, int? quantizeBits, MemoryRequest request,
        string? controlNetFolder = null)
    {
        var footprint = ModelFootprint.Read(location, target.DType, quantizeBits);
        return Check(controlNetFolder is null ? footprint : footprint.WithControlNet(controlNetFolder), target, request, new HashSet<ModelPart>());
    }

    /// <summary>With the model loaded: the parts already resident take nothing new.</summary>
    /// <param name="controlNet">Whether the ControlNet the model uses guides this generation.</param>
    /// <param name="fromPicture">Whether the generation starts from a picture (image to image).</param>
    /// <exception cref="EngineMemoryException">The generation cannot fit; the exception says what would.</exception>
    public MemoryPlan Check(LoadedFluxModel model, int width, int height, bool controlNet = false, bool fromPicture = false) =>
        Check(controlNet && model.ControlNetPath is { } folder ? model.Footprint.WithControlNet(folder) : model.Footprint, model.Target,
            new MemoryRequest(width, height, model.LowMemory, fromPicture), model.ResidentParts);

    public MemoryPlan Check(ModelFootprint model, ComputeTarget target, MemoryRequest request, IReadOnlySet<ModelPart> resident)
    {
        var plan = new MemoryPlan(model, request, resident, memory.AvailableBytes(target));
        return plan.Fits ? plan : throw plan.Refusal();
    }
}

/// <summary>A generation's estimate next to the memory that was available when it was checked.</summary>
public sealed class MemoryPlan
{
    private readonly ModelFootprint _model;
    private readonly MemoryRequest _request;
    private readonly IReadOnlySet<ModelPart> _resident;

    internal MemoryPlan(ModelFootprint model, MemoryRequest request, IReadOnlySet<ModelPart> resident, long? availableBytes)
    {
        (_model, _request, _resident, AvailableBytes) = (model, request, resident, availableBytes);
        Estimate = GenerationMemory.Estimate(model, request, resident);
    }

    public MemoryEstimate Estimate { get; }

    /// <summary>Null when the machine could not tell; the generation is then not refused up front.</summary>
    public long? AvailableBytes { get; }

    public bool Fits => AvailableBytes is not { } available || Estimate.TotalBytes <= available;

    internal EngineMemoryException Refusal() => new(new MemoryShortfall(_request.Width, _request.Height, null,
        Estimate.TotalBytes, AvailableBytes, Remedies(AvailableBytes ?? long.MaxValue)));

    /// <summary>
    /// An allocation failed during <paramref name="operation"/> although the estimate fitted, so the figures cannot say
    /// what would: the changes offered are half the pixels, the next smaller bit width, and low-memory mode.
    /// </summary>
    public EngineMemoryException Failure(string operation, Exception inner)
    {
        var half = MemoryShortfall.Unplanned(_request.Width, _request.Height, operation, 2 * _model.Vae.DownsampleFactor);
        var remedies = half.Remedies.ToList();
        if (FewerBits().FirstOrDefault() is var bits and > 0) remedies.Add(new MemoryRemedy(QuantizeBits: bits));
        if (!_request.LowMemory) remedies.Add(new MemoryRemedy(LowMemory: true));
        return new EngineMemoryException(half with { Remedies = remedies }, inner);
    }

    /// <summary>
    /// Each single change that fits in <paramref name="budget"/>, else the smallest combination that does. A change of bit
    /// width or mode reloads the model, which frees what it holds now.
    /// </summary>
    internal IReadOnlyList<MemoryRemedy> Remedies(long budget)
    {
        var remedies = new List<MemoryRemedy>();
        if (LargestSize(_model, _request, _resident, budget) is { } size)
            remedies.Add(new MemoryRemedy(size.Width, size.Height));

        var none = new HashSet<ModelPart>();
        var reloadBudget = budget == long.MaxValue ? budget : budget + _model.Weights(_resident);
        var fewerBits = FewerBits().Select(bits => (Bits: bits, Model: _model.Requantized(bits)!)).ToList();
        if (fewerBits.FirstOrDefault(q => FitsIn(q.Model, _request, none, reloadBudget)) is { Model: not null } quantized)
            remedies.Add(new MemoryRemedy(QuantizeBits: quantized.Bits));
        if (!_request.LowMemory && FitsIn(_model, _request with { LowMemory = true }, none, reloadBudget))
            remedies.Add(new MemoryRemedy(LowMemory: true));
        if (remedies.Count > 0) return remedies;

        int? bits = fewerBits.Count > 0 ? fewerBits[^1].Bits : null;
        var smallest = fewerBits.Count > 0 ? fewerBits[^1].Model : _model;
        var lowMemory = _request with { LowMemory = true };
        if (LargestSize(smallest, lowMemory, none, reloadBudget) is { } combined)
            remedies.Add(new MemoryRemedy(combined.Width, combined.Height, bits, !_request.LowMemory));
        return remedies;
    }

    private IEnumerable<int> FewerBits() =>
        _model.StoredQuantized ? [] : new[] { 8, 4 }.Where(bits => bits < (_model.QuantizationBits ?? 16));

    private static bool FitsIn(ModelFootprint model, MemoryRequest request, IReadOnlySet<ModelPart> resident, long budget) =>
        GenerationMemory.Estimate(model, request, resident).TotalBytes <= budget;

    /// <summary>The largest image of the request's shape, at most its size, that fits; sides are multiples of 2 × the VAE factor.</summary>
    private static (int Width, int Height)? LargestSize(ModelFootprint model, MemoryRequest request, IReadOnlySet<ModelPart> resident, long budget)
    {
        int multiple = 2 * model.Vae.DownsampleFactor;
        int longSide = Math.Max(request.Width, request.Height), shortSide = Math.Min(request.Width, request.Height);
        for (int side = longSide; side >= multiple; side -= multiple)
        {
            int other = Math.Max(multiple, (int)Math.Round((double)side * shortSide / longSide / multiple) * multiple);
            var candidate = request.Width >= request.Height ? request with { Width = side, Height = other } : request with { Width = other, Height = side };
            if (candidate == request) continue;
            if (FitsIn(model, candidate, resident, budget)) return (candidate.Width, candidate.Height);
        }
        return null;
    }
}
