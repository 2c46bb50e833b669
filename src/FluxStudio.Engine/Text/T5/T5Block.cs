using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>One T5 encoder block: self-attention, then the gated feed-forward, each with a residual.</summary>
public sealed class T5Block : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly T5SelfAttentionLayer _selfAttention;
    private readonly T5FeedForwardLayer _feedForward;

    public T5Block(T5EncoderConfig config, bool hasRelativeAttentionBias, ScalarType dtype, Device device)
        : base(nameof(T5Block))
    {
        _selfAttention = new T5SelfAttentionLayer(config, hasRelativeAttentionBias, dtype, device);
        _feedForward = new T5FeedForwardLayer(config, dtype, device);
        // The checkpoint numbers the two halves: layer.0 is the attention, layer.1 the feed-forward.
        register_module("layer", new ModuleList<nn.Module>(_selfAttention, _feedForward));
    }

    public T5Attention Attention => _selfAttention.Attention;

    public override Tensor forward(Tensor hidden, Tensor scoreBias)
    {
        hidden = ClampForFloat16(_selfAttention.call(hidden, scoreBias));
        return ClampForFloat16(_feedForward.call(hidden));
    }

    /// <summary>
    /// T5's activations can overflow float16; like the reference, clamp them into range (not needed for float32 or
    /// bfloat16, which share float32's exponent range).
    /// </summary>
    private static Tensor ClampForFloat16(Tensor hidden)
    {
        if (hidden.dtype != ScalarType.Float16) return hidden;
        var max = finfo(ScalarType.Float16).max;
        var limit = hidden.isinf().any().item<bool>() ? max - 1000 : max;
        using var low = (-limit).ToScalar();
        using var high = limit.ToScalar();
        return hidden.clamp(low, high);
    }
}
