using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>The feed-forward half of a T5 block: x + feedForward(norm(x)).</summary>
public sealed class T5FeedForwardLayer : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names ("DenseReluDense" even when gated GELU).
    private readonly T5GatedFeedForward DenseReluDense;
    private readonly T5RmsNorm layer_norm;
#pragma warning restore IDE1006

    public T5FeedForwardLayer(T5EncoderConfig config, ScalarType dtype, Device device) : base(nameof(T5FeedForwardLayer))
    {
        DenseReluDense = new T5GatedFeedForward(config, dtype, device);
        layer_norm = new T5RmsNorm(config.DModel, config.LayerNormEpsilon, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => hidden.add(DenseReluDense.call(layer_norm.call(hidden)), One);
}
