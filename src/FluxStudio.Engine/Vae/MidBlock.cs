using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>The lowest-resolution stage of both encoder and decoder: resnet, attention, resnet.</summary>
public sealed class MidBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly ResnetBlock block_1;
    private readonly AttnBlock attn_1;
    private readonly ResnetBlock block_2;
#pragma warning restore IDE1006

    public MidBlock(long channels, long groups, ScalarType dtype, Device? device)
        : base(nameof(MidBlock))
    {
        block_1 = new ResnetBlock(channels, channels, groups, dtype, device);
        attn_1 = new AttnBlock(channels, groups, dtype, device);
        block_2 = new ResnetBlock(channels, channels, groups, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return block_2.call(attn_1.call(block_1.call(x))).MoveToOuterDisposeScope();
    }
}
