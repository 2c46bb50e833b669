using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>The attention half of a T5 block: x + attention(norm(x)).</summary>
public sealed class T5SelfAttentionLayer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly T5Attention SelfAttention;
    private readonly T5RmsNorm layer_norm;
#pragma warning restore IDE1006

    public T5SelfAttentionLayer(T5EncoderConfig config, bool hasRelativeAttentionBias, ScalarType dtype, Device device)
        : base(nameof(T5SelfAttentionLayer))
    {
        SelfAttention = new T5Attention(config, hasRelativeAttentionBias, dtype, device);
        layer_norm = new T5RmsNorm(config.DModel, config.LayerNormEpsilon, dtype, device);
        RegisterComponents();
    }

    public T5Attention Attention => SelfAttention;

    public override Tensor forward(Tensor hidden, Tensor scoreBias) =>
        hidden.add(SelfAttention.call(layer_norm.call(hidden), scoreBias), One);
}
