using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>Halves the resolution with a 3 × 3, stride-2 convolution.</summary>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly Convolution2d conv;
#pragma warning restore IDE1006

    public Downsample(long channels, ScalarType dtype, Device? device)
        : base(nameof(Downsample))
    {
        conv = new Convolution2d(channels, channels, 3, stride: 2, dtype: dtype, device: device);
        RegisterComponents();
    }

    // The reference pads asymmetrically, one zero column on the right and one zero row at the bottom, instead of
    // the convolution's symmetric padding; the output pixel grid depends on it.
    public override Tensor forward(Tensor x)
    {
        using var padded = nn.functional.pad(x, (0, 1, 0, 1));
        return conv.call(padded);
    }
}
