using FluxStudio.Engine.Layers;
using TorchSharp.Modules;
using Linear = FluxStudio.Engine.Layers.Linear;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>Adaptive LayerNorm (shift first, then scale) and the projection back to latent channels.</summary>
public sealed class LastLayer : nn.Module
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear linear;
    public readonly Sequential adaLN_modulation;
#pragma warning restore IDE1006

    public LastLayer(FluxConfig config, ScalarType dtype, Device? device) : base(nameof(LastLayer))
    {
        linear = new Linear(config.HiddenSize, config.OutChannels, true, dtype, device);
        adaLN_modulation = nn.Sequential(
            ("0", nn.SiLU()),
            ("1", new Linear(config.HiddenSize, 2L * config.HiddenSize, true, dtype, device)));
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor vec)
    {
        using var scope = NewDisposeScope();
        var halves = adaLN_modulation.forward(vec).chunk(2, 1);
        var (shift, scale) = (halves[0].unsqueeze(1), halves[1].unsqueeze(1));
        return linear.forward((scale.add(One, One) * Modulation.Norm(x)).add(shift, One)).MoveToOuterDisposeScope();
    }
}
