using FluxStudio.Engine.Layers;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>Linear → SiLU → Linear: embeds the timestep, guidance and pooled-text vectors.</summary>
public sealed class MLPEmbedder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear in_layer;
    public readonly Linear out_layer;
#pragma warning restore IDE1006

    public MLPEmbedder(long inDim, long hiddenDim, ScalarType dtype, Device? device) : base(nameof(MLPEmbedder))
    {
        in_layer = new Linear(inDim, hiddenDim, true, dtype, device);
        out_layer = new Linear(hiddenDim, hiddenDim, true, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var hidden = nn.functional.silu(in_layer.forward(x));
        return out_layer.forward(hidden);
    }
}
