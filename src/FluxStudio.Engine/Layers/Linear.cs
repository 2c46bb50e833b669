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

    /// <summary>Run-time additions to the output, applied in order after the base product (LoRA adapters).</summary>
    public List<ILinearAdapter> Adapters { get; } = [];

    public override Tensor forward(Tensor input)
    {
        var output = nn.functional.linear(input, weight, bias);
        foreach (var adapter in Adapters)
            output = adapter.Adapt(input, output);
        return output;
    }
}
