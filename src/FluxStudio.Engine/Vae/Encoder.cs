using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// Image [B, in, H, W] → moments [B, 2·z, H/f, W/f]: the mean of the latent distribution, then its log-variance.
/// </summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly Convolution2d conv_in;
    private readonly ModuleList<ResolutionLevel> down;
    private readonly MidBlock mid;
    private readonly GroupNormalization norm_out;
    private readonly Convolution2d conv_out;
#pragma warning restore IDE1006

    public Encoder(AutoEncoderConfig config, ScalarType dtype, Device? device)
        : base(nameof(Encoder))
    {
        var groups = config.NormGroups;
        conv_in = Convolution2d.Same3x3(config.InChannels, config.Channels, dtype, device);
        down = new ModuleList<ResolutionLevel>([.. Enumerable.Range(0, config.LevelCount).Select(level => new ResolutionLevel(
            level == 0 ? config.Channels : config.LevelChannels(level - 1), config.LevelChannels(level), config.ResBlocks,
            level < config.LevelCount - 1 ? Resampling.Halve : Resampling.None, groups, dtype, device))]);
        mid = new MidBlock(config.InnerChannels, groups, dtype, device);
        norm_out = new GroupNormalization(groups, config.InnerChannels, dtype, device);
        conv_out = Convolution2d.Same3x3(config.InnerChannels, 2 * config.LatentChannels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor image) =>
        Stages.Run(image, [conv_in, .. down, mid, norm_out, Stages.Swish, conv_out]);
}
