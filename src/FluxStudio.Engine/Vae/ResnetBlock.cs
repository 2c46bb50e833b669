using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// x + conv₂(swish(norm₂(conv₁(swish(norm₁(x)))))), with a 1 × 1 convolution on the skip path when the channel
/// count changes.
/// </summary>
public sealed class ResnetBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly GroupNormalization norm1;
    private readonly Convolution2d conv1;
    private readonly GroupNormalization norm2;
    private readonly Convolution2d conv2;
    private readonly Convolution2d? nin_shortcut;
#pragma warning restore IDE1006

    public ResnetBlock(long inChannels, long outChannels, long groups, ScalarType dtype, Device? device)
        : base(nameof(ResnetBlock))
    {
        norm1 = new GroupNormalization(groups, inChannels, dtype, device);
        conv1 = Convolution2d.Same3x3(inChannels, outChannels, dtype, device);
        norm2 = new GroupNormalization(groups, outChannels, dtype, device);
        conv2 = Convolution2d.Same3x3(outChannels, outChannels, dtype, device);
        if (inChannels != outChannels)
            nin_shortcut = Convolution2d.Pointwise(inChannels, outChannels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(norm1.call(x).silu_());
        h = conv2.call(norm2.call(h).silu_());
        var skip = nin_shortcut?.call(x) ?? x;
        return h.add_(skip, One).MoveToOuterDisposeScope();
    }
}
