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
            : Product(input, weight, bias);
        return Adapt(input, output);
    }

    /// <summary>
    /// x·Wᵀ + b over the last dimension of <paramref name="input"/>, as one matrix product that adds the bias itself
    /// (addmm). TorchSharp's functional linear is libtorch's C++-frontend one: an input of three or more dimensions goes
    /// to matmul and the bias is added in a pass of its own; and matmul, given rows it cannot view as one matrix (a
    /// sequence narrowed out of a longer one), multiplies them as a batch, copying the whole weight first.
    /// </summary>
    public static Tensor Product(Tensor input, Tensor weight, Tensor? bias)
    {
        if (input.dim() <= 2) return nn.functional.linear(input, weight, bias);
        var output = nn.functional.linear(input.reshape(-1, input.shape[^1]), weight, bias);
        return output.view([.. input.shape[..^1], weight.shape[0]]);
    }

    private Tensor Adapt(Tensor input, Tensor output)
    {
        foreach (var adapter in Adapters)
            output = adapter.Adapt(input, output);
        return output;
    }

    /// <summary>
    /// The output split along its last dimension into parts of <paramref name="sizes"/>, each computed alone from its
    /// rows of the weight: tensors of their own rather than views into one large output, the same values as splitting
    /// <see cref="forward"/>'s. A fused projection's output can pass the largest block glibc keeps for reuse (64 MiB in
    /// a thread's heap), and such a block comes back as fresh pages the kernel zeroes at every step. Adapters see the
    /// whole input and output: with any, the parts are joined for them and split again, so that the base product is
    /// the same with an adapter as without (a LoRA at scale 0 changes nothing, to the bit).
    /// </summary>
    public Tensor[] ForwardSplit(Tensor input, params long[] sizes)
    {
        // A quantized product that records a gradient keeps its weight for the backward pass; a part's weight is a
        // view that would be gone by then.
        if (Quantized != null && is_grad_enabled() && input.requires_grad) return forward(input).split(sizes, -1);
        var parts = new Tensor[sizes.Length];
        long start = 0;
        for (int i = 0; i < sizes.Length; start += sizes[i++])
        {
            var partBias = bias?.narrow(0, start, sizes[i]);
            parts[i] = Quantized is { } quantized
                ? quantized.Rows(start, sizes[i]).Linear(input, partBias)
                : Product(input, weight.narrow(0, start, sizes[i]), partBias);
        }
        return Adapters.Count == 0 ? parts : Adapt(input, cat(parts, -1)).split(sizes, -1);
    }

    /// <summary>
    /// The layer applied to <paramref name="inputs"/> joined along their last dimension, without joining them:
    /// Σ xᵢ·W[:, columnsᵢ]ᵀ + b, each product added into the first's output. Adapters are given the joined input.
    /// Only in float32 and float64: in a 16-bit dtype the partial sum would be rounded to it between the products, where
    /// one product keeps its whole sum in float32, so there the inputs are joined.
    /// </summary>
    public Tensor ForwardJoined(params Tensor[] inputs)
    {
        long joined = inputs.Sum(input => input.shape[^1]);
        if (joined != InFeatures)
            throw new ArgumentException($"The inputs have {joined} features together; this layer takes {InFeatures}.", nameof(inputs));
        if (Quantized != null || inputs[0].dtype is not (ScalarType.Float32 or ScalarType.Float64)) return forward(cat(inputs, -1));
        long start = inputs[0].shape[^1];
        var output = Product(inputs[0], weight.narrow(1, 0, start), bias);
        foreach (var input in inputs.Skip(1))
        {
            long columns = input.shape[^1];
            var part = weight.narrow(1, start, columns);
            start += columns;
            // The same product either way, so that a recorded forward gives what an unrecorded one does, to the bit.
            var (sum, rows) = (output.view(-1, OutFeatures), input.reshape(-1, columns));
            if (is_grad_enabled() && (input.requires_grad || output.requires_grad))
                output = sum.addmm(rows, part.t()).view(output.shape);
            else
                sum.addmm_(rows, part.t());
        }
        return Adapters.Count == 0 ? output : Adapt(cat(inputs, -1), output);
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
