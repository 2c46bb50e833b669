using FluxStudio.Engine.Layers;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// Single-head self-attention over all pixels, with the channels as the feature dimension (scale 1/√C), added back
/// to its input. q, k, v and the output projection are 1 × 1 convolutions, as in the BFL checkpoint.
/// </summary>
public sealed class AttnBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly GroupNormalization norm;
    private readonly Convolution2d q;
    private readonly Convolution2d k;
    private readonly Convolution2d v;
    private readonly Convolution2d proj_out;
#pragma warning restore IDE1006

    public AttnBlock(long channels, long groups, ScalarType dtype, Device? device)
        : base(nameof(AttnBlock))
    {
        norm = new GroupNormalization(groups, channels, dtype, device);
        q = Convolution2d.Pointwise(channels, channels, dtype, device);
        k = Convolution2d.Pointwise(channels, channels, dtype, device);
        v = Convolution2d.Pointwise(channels, channels, dtype, device);
        proj_out = Convolution2d.Pointwise(channels, channels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var h = norm.call(x);
        // b c h w → b 1 (h w) c: one head whose features are the channels; SDPA's default scale is 1/√C.
        var attended = ScaledDotProductAttention.Compute(Tokens(q.call(h)), Tokens(k.call(h)), Tokens(v.call(h)));
        var image = attended.squeeze(1).transpose(1, 2).reshape(batch, channels, height, width);
        return proj_out.call(image).add_(x, One).MoveToOuterDisposeScope();
    }

    private static Tensor Tokens(Tensor image) => image.flatten(2).transpose(1, 2).unsqueeze(1);
}
