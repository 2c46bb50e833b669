using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>A square-kernel 2-D convolution with a bias, the only convolution the autoencoder uses.</summary>
/// <remarks>
/// Parameters start uninitialised (torch.empty), like <see cref="Layers.Linear"/>: they are always loaded from a
/// checkpoint, or filled by <see cref="Layers.Initialization"/> for random test models.
/// </remarks>
public sealed class Convolution2d : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    public readonly Parameter weight;
    public readonly Parameter bias;
#pragma warning restore IDE1006

    private readonly long[] _stride;
    private readonly long[] _padding;

    public Convolution2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(Convolution2d))
    {
        weight = nn.Parameter(empty([outChannels, inChannels, kernelSize, kernelSize], dtype, device), requires_grad: false);
        bias = nn.Parameter(empty([outChannels], dtype, device), requires_grad: false);
        _stride = [stride, stride];
        _padding = [padding, padding];
        RegisterComponents();
    }

    /// <summary>A 3 × 3 convolution that keeps the spatial size.</summary>
    public static Convolution2d Same3x3(long inChannels, long outChannels, ScalarType dtype, Device? device) =>
        new(inChannels, outChannels, 3, padding: 1, dtype: dtype, device: device);

    /// <summary>A 1 × 1 convolution: a per-pixel linear map of the channels.</summary>
    public static Convolution2d Pointwise(long inChannels, long outChannels, ScalarType dtype, Device? device) =>
        new(inChannels, outChannels, 1, dtype: dtype, device: device);

    public override Tensor forward(Tensor input) =>
        nn.functional.conv2d(input, weight, bias, _stride, _padding);
}
