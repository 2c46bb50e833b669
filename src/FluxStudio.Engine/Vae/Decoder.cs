using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>Unscaled latent [B, z, h, w] → image [B, out, h·f, w·f] in about [-1, 1].</summary>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly Convolution2d conv_in;
    private readonly MidBlock mid;
    private readonly ModuleList<ResolutionLevel> up;
    private readonly GroupNormalization norm_out;
    private readonly Convolution2d conv_out;
#pragma warning restore IDE1006

    public Decoder(AutoEncoderConfig config, ScalarType dtype, Device? device)
        : base(nameof(Decoder))
    {
        var groups = config.NormGroups;
        var last = config.LevelCount - 1;
        conv_in = Convolution2d.Same3x3(config.LatentChannels, config.InnerChannels, dtype, device);
        mid = new MidBlock(config.InnerChannels, groups, dtype, device);
        // up[0] is the full-resolution level, which runs last: the checkpoint numbers levels like the encoder.
        up = new ModuleList<ResolutionLevel>([.. Enumerable.Range(0, config.LevelCount).Select(level => new ResolutionLevel(
            config.LevelChannels(Math.Min(level + 1, last)), config.LevelChannels(level), config.ResBlocks + 1,
            level > 0 ? Resampling.Double : Resampling.None, groups, dtype, device))]);
        norm_out = new GroupNormalization(groups, config.LevelChannels(0), dtype, device);
        conv_out = Convolution2d.Same3x3(config.LevelChannels(0), config.OutChannels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor latent)
    {
        using var features = LatentFeatures(latent);
        return ToImage(features);
    }

    /// <summary>The work at latent resolution: conv_in and the mid block (whose attention sees every latent pixel).</summary>
    public Tensor LatentFeatures(Tensor latent) => Stages.Run(latent, [conv_in, mid]);

    /// <summary>From latent-resolution features to the image: the up levels (full resolution last), norm, swish, conv_out.</summary>
    public Tensor ToImage(Tensor features) => Stages.Run(features, [.. up.Reverse(), norm_out, Stages.Swish, conv_out]);
}
