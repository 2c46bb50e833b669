using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>A pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly ClipAttention self_attn;
    private readonly LayerNorm layer_norm1;
    private readonly ClipMlp mlp;
    private readonly LayerNorm layer_norm2;
#pragma warning restore IDE1006

    public ClipEncoderLayer(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(config, dtype, device);
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        mlp = new ClipMlp(config, dtype, device);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor maskBias)
    {
        hidden = hidden.add(self_attn.call(layer_norm1.call(hidden), maskBias), One);
        return hidden.add(mlp.call(layer_norm2.call(hidden)), One);
    }
}
