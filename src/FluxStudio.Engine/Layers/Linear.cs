using FluxStudio.Engine.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// y = x·Wᵀ + b. Every linear map of the models goes through this one type, so weight formats (quantized
/// storage), LoRA adapters and training hooks have a single place to plug in.
/// </summary>
/// <remarks>
/// Parameters start uninitialised (torch.empty): weights are always loaded from a checkpoint, and the
/// real models are far too large to fill with random numbers first. Use <see cref="Initialization"/> for
/// random models.
/// </remarks>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    public readonly Parameter weight;
    public readonly Parameter? bias;
#pragma warning restore IDE1006

    public Linear(long inFeatures, long outFeatures, bool hasBias = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(Linear))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = nn.Parameter(empty([outFeatures, inFeatures], dtype, device), requires_grad: false);
        if (hasBias)
            bias = nn.Parameter(empty([outFeatures], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    /// <summary>Where the layer's weights live, dense or quantized.</summary>
    public Device Device => Quantized?.Packed.device ?? weight.device;

    /// <summary>Run-time additions to the output, applied in order after the base product (LoRA adapters).</summary>
    public List<ILinearAdapter> Adapters { get; } = [];

    public override Tensor forward(Tensor input)
    {
        var output = Quantized is { } quantized
            ? DifferentiableQuantizedLinear.Linear(quantized, input, bias)
            : nn.functional.linear(input, weight, bias);
        foreach (var adapter in Adapters)
            output = adapter.Adapt(input, output);
        return output;
    }

    // ---- Quantized storage (FluxStudio.Engine.Quantization) ----

    /// <summary>
    /// The group-wise quantized weight, when this layer holds one instead of the dense <see cref="weight"/> (which is
    /// then emptied and no longer a registered parameter; the checkpoint names become <c>qweight</c>, <c>scales</c>,
    /// <c>biases</c>).
    /// </summary>
    public QuantizedWeight? Quantized { get; private set; }

    /// <summary>Replaces the dense weight with its <paramref name="bits"/>-bit quantization.</summary>
    public void Quantize(int bits, long groupSize)
    {
        if (Quantized != null)
            throw new InvalidOperationException("This layer is already quantized.");
        using var _ = no_grad();
        UseQuantized(QuantizedWeight.Quantize(weight, bits, groupSize));
    }

    /// <summary>Holds <paramref name="quantized"/> (e.g. empty storage a loader fills) instead of the dense weight.</summary>
    public void UseQuantized(QuantizedWeight quantized)
    {
        if (Quantized != null)
            throw new InvalidOperationException("This layer is already quantized.");
        if (quantized.OutFeatures != OutFeatures || quantized.InFeatures != InFeatures)
            throw new ArgumentException($"A [{quantized.OutFeatures}, {quantized.InFeatures}] weight does not fit a [{OutFeatures}, {InFeatures}] layer.", nameof(quantized));
        _internal_params.Remove(nameof(weight));
        // No longer a parameter, so nothing keeps it alive: detach it from the caller's dispose scope, so that the
        // emptied tensor stays valid for code that inspects the layer.
        weight.DetachFromDisposeScope();
        using (no_grad()) weight.set_(empty(0, weight.dtype, weight.device));
        register_buffer("qweight", quantized.Packed);
        register_buffer("scales", quantized.Scales);
        register_buffer("biases", quantized.Biases);
        Quantized = quantized;
    }
}
