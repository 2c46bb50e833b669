using FluxStudio.Engine.Layers;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>Shift, scale and gate for one adaptive-norm site, each (B, 1, hidden).</summary>
public readonly record struct ModulationOut(Tensor Shift, Tensor Scale, Tensor Gate)
{
    /// <summary>(1 + scale) · x + shift.</summary>
    public Tensor Apply(Tensor normalized) => addcmul(Shift, Scale.add(One, One), normalized, One);

    /// <summary>residual + gate · output, in one pass.</summary>
    public Tensor AddGated(Tensor residual, Tensor output) => addcmul(residual, Gate, output, One);
}

/// <summary>Linear(SiLU(vec)) split into 3 (single block) or 6 (double block: attention then MLP) chunks.</summary>
public sealed class Modulation : nn.Module
{
#pragma warning disable IDE1006 // checkpoint name
    public readonly Linear lin;
#pragma warning restore IDE1006

    private readonly bool _double;

    public Modulation(long dim, bool isDouble, ScalarType dtype, Device? device) : base(nameof(Modulation))
    {
        _double = isDouble;
        lin = new Linear(dim, (isDouble ? 6 : 3) * dim, true, dtype, device);
        RegisterComponents();
    }

    /// <summary>The LayerNorm in front of every modulation: no learned scale or bias, eps 1e-6.</summary>
    public static Tensor Norm(Tensor x) => nn.functional.layer_norm(x, [x.shape[^1]], null, null, 1e-6);

    public (ModulationOut First, ModulationOut? Second) Forward(Tensor vec)
    {
        var chunks = lin.forward(nn.functional.silu(vec)).unsqueeze(1).chunk(_double ? 6 : 3, -1);
        var first = new ModulationOut(chunks[0], chunks[1], chunks[2]);
        return (first, _double ? new ModulationOut(chunks[3], chunks[4], chunks[5]) : null);
    }
}
