using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Text.T5;

/// <summary>
/// T5 self-attention: no biases, and scores are q·kᵀ without the 1/√d scaling (T5 folds it into the initialisation),
/// plus the shared position bias. The softmax runs in float32, as the reference does.
/// </summary>
public sealed class T5Attention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Linear q;
    private readonly Linear k;
    private readonly Linear v;
    private readonly Linear o;
    private readonly T5RelativePositionBias? relative_attention_bias;
#pragma warning restore IDE1006
    private readonly long _heads;
    private readonly long _headDim;

    public T5Attention(T5EncoderConfig config, bool hasRelativeAttentionBias, ScalarType dtype, Device device)
        : base(nameof(T5Attention))
    {
        _heads = config.NumHeads;
        _headDim = config.DKv;
        q = new Linear(config.DModel, config.InnerDim, hasBias: false, dtype, device);
        k = new Linear(config.DModel, config.InnerDim, hasBias: false, dtype, device);
        v = new Linear(config.DModel, config.InnerDim, hasBias: false, dtype, device);
        o = new Linear(config.InnerDim, config.DModel, hasBias: false, dtype, device);
        if (hasRelativeAttentionBias)
            relative_attention_bias = new T5RelativePositionBias(config, dtype, device);
        RegisterComponents();
    }

    /// <summary>The bias table of the first block; absent in every other block.</summary>
    public T5RelativePositionBias? RelativeAttentionBias => relative_attention_bias;

    /// <param name="hidden">[batch, length, d_model], already normalised.</param>
    /// <param name="scoreBias">Position bias plus padding mask, broadcastable to [batch, heads, length, length].</param>
    public override Tensor forward(Tensor hidden, Tensor scoreBias)
    {
        var queries = SplitHeads(q.call(hidden));
        var keys = SplitHeads(k.call(hidden));
        var values = SplitHeads(v.call(hidden));
        var scores = queries.matmul(keys.transpose(-1, -2)).add(scoreBias, One);
        var weights = scores.to(ScalarType.Float32).softmax(-1).to(scores.dtype);
        return o.call(MergeHeads(weights.matmul(values)));
    }

    private Tensor SplitHeads(Tensor x) => x.view(x.shape[0], x.shape[1], _heads, _headDim).transpose(1, 2);

    private static Tensor MergeHeads(Tensor x) => x.transpose(1, 2).flatten(2);
}
