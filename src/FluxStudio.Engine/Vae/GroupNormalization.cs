using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>GroupNorm with a learned scale and shift, eps 1e-6, as every norm of the FLUX.1 autoencoder.</summary>
public sealed class GroupNormalization : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    public readonly Parameter weight;
    public readonly Parameter bias;
#pragma warning restore IDE1006

    private const double Epsilon = 1e-6;
    private readonly long _groups;

    public GroupNormalization(long groups, long channels, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(GroupNormalization))
    {
        _groups = groups;
        weight = nn.Parameter(ones([channels], dtype, device), requires_grad: false);
        bias = nn.Parameter(zeros([channels], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>Set while decoding in tiles: every tile then normalises with the whole image's statistics.</summary>
    internal SharedGroupStatistics? Shared { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (Shared?.Normalize(input, _groups, Epsilon) is not { } normalized)
            return nn.functional.group_norm(input, _groups, weight, bias, Epsilon);
        var channels = weight.shape[0];
        return normalized.mul_(weight.view(1, channels, 1, 1)).add_(bias.view(1, channels, 1, 1), One);
    }
}
