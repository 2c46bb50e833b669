using FluxStudio.Engine.Layers;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Parallel attention + MLP block over the joint [text, image] sequence: one fused input projection
/// (q, k, v and the MLP's first layer) and one output projection of [attention | GELU(mlp)], each computed by parts
/// (<see cref="Linear.ForwardSplit"/>, <see cref="Linear.ForwardJoined"/>) so that neither the fused output nor the
/// joined input is ever one tensor.
/// </summary>
public sealed class SingleStreamBlock : nn.Module
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear linear1;
    public readonly Linear linear2;
    public readonly QKNorm norm;
    public readonly Modulation modulation;
#pragma warning restore IDE1006

    private readonly FluxConfig _config;

    public SingleStreamBlock(FluxConfig config, ScalarType dtype, Device? device) : base(nameof(SingleStreamBlock))
    {
        _config = config;
        linear1 = new Linear(config.HiddenSize, 3L * config.HiddenSize + config.MlpHiddenDim, true, dtype, device);
        linear2 = new Linear(config.HiddenSize + config.MlpHiddenDim, config.HiddenSize, true, dtype, device);
        norm = new QKNorm(config.HeadDim, dtype, device);
        modulation = new Modulation(config.HiddenSize, isDouble: false, dtype, device);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor vec, Tensor pe)
    {
        using var scope = NewDisposeScope();
        var (mod, _) = modulation.Forward(vec);
        var parts = linear1.ForwardSplit(mod.Apply(Modulation.Norm(x)), 3L * _config.HiddenSize, _config.MlpHiddenDim);
        var (q, k, v) = Attention.SplitHeads(parts[0], _config.NumHeads);
        (q, k) = norm.Forward(q, k, v);
        var attention = Attention.Forward(q, k, v, pe);
        var mlp = TanhGelu.Apply(parts[1]);
        var output = linear2.ForwardJoined(attention, mlp);
        return mod.AddGated(x, output).MoveToOuterDisposeScope();
    }
}
