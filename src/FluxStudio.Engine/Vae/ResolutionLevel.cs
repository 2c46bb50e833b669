using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>What a level does to the resolution after its resnet blocks.</summary>
public enum Resampling
{
    None,
    Halve,
    Double,
}

/// <summary>
/// One resolution level (BFL <c>encoder.down.i</c> or <c>decoder.up.i</c>): a stack of resnet blocks, then a
/// downsample in the encoder or an upsample in the decoder, except at the level that needs none.
/// </summary>
public sealed class ResolutionLevel : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly ModuleList<ResnetBlock> block;
    private readonly Downsample? downsample;
    private readonly Upsample? upsample;
#pragma warning restore IDE1006

    public ResolutionLevel(long inChannels, long outChannels, int resBlocks, Resampling resampling, long groups,
        ScalarType dtype, Device? device)
        : base(nameof(ResolutionLevel))
    {
        block = new ModuleList<ResnetBlock>([.. Enumerable.Range(0, resBlocks)
            .Select(i => new ResnetBlock(i == 0 ? inChannels : outChannels, outChannels, groups, dtype, device))]);
        if (resampling == Resampling.Halve) downsample = new Downsample(outChannels, dtype, device);
        if (resampling == Resampling.Double) upsample = new Upsample(outChannels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Stages.Run(x, [.. block, downsample, upsample]);
}
