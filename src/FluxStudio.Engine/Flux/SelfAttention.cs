using FluxStudio.Engine.Layers;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>The fused q/k/v projection, per-head QK norm and output projection of one stream.</summary>
public sealed class SelfAttention : nn.Module
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear qkv;
    public readonly QKNorm norm;
    public readonly Linear proj;
#pragma warning restore IDE1006

    public SelfAttention(FluxConfig config, ScalarType dtype, Device? device) : base(nameof(SelfAttention))
    {
        NumHeads = config.NumHeads;
        qkv = new Linear(config.HiddenSize, 3L * config.HiddenSize, config.QkvBias, dtype, device);
        norm = new QKNorm(config.HeadDim, dtype, device);
        proj = new Linear(config.HiddenSize, config.HiddenSize, true, dtype, device);
        RegisterComponents();
    }

    public int NumHeads { get; }

    /// <summary>q, k, v of shape (B, H, L, D), with q and k normalised.</summary>
    public (Tensor Q, Tensor K, Tensor V) QueryKeyValue(Tensor x)
    {
        var (q, k, v) = Attention.SplitHeads(qkv.forward(x), NumHeads);
        var (qNormed, kNormed) = norm.Forward(q, k, v);
        return (qNormed, kNormed, v);
    }
}
