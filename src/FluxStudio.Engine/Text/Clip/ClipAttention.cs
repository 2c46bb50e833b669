using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>Multi-head self-attention with biases; the additive mask carries causality and padding.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear q_proj;
    private readonly Linear out_proj;
#pragma warning restore IDE1006
    private readonly long _heads;
    private readonly long _headDim;
    private readonly double _scale;

    public ClipAttention(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipAttention))
    {
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _scale = Math.Pow(_headDim, -0.5);
        k_proj = new Linear(config.HiddenSize, config.HiddenSize, hasBias: true, dtype, device);
        v_proj = new Linear(config.HiddenSize, config.HiddenSize, hasBias: true, dtype, device);
        q_proj = new Linear(config.HiddenSize, config.HiddenSize, hasBias: true, dtype, device);
        out_proj = new Linear(config.HiddenSize, config.HiddenSize, hasBias: true, dtype, device);
        RegisterComponents();
    }

    /// <param name="hidden">[batch, length, hidden]</param>
    /// <param name="maskBias">Added to the scores: 0 where a query may see a key, the dtype's minimum elsewhere.</param>
    public override Tensor forward(Tensor hidden, Tensor maskBias)
    {
        // As in the reference, q is scaled after its bias is added, before the product.
        using var scale = _scale.ToScalar();
        var q = SplitHeads(q_proj.call(hidden) * scale);
        var k = SplitHeads(k_proj.call(hidden));
        var v = SplitHeads(v_proj.call(hidden));
        var weights = q.matmul(k.transpose(-1, -2)).add(maskBias, One).softmax(-1);
        return out_proj.call(MergeHeads(weights.matmul(v)));
    }

    private Tensor SplitHeads(Tensor x) => x.view(x.shape[0], x.shape[1], _heads, _headDim).transpose(1, 2);

    private static Tensor MergeHeads(Tensor x) => x.transpose(1, 2).flatten(2);
}
