using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>Doubles the resolution: nearest-neighbour ×2, then a 3 × 3 convolution.</summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly Convolution2d conv;
#pragma warning restore IDE1006

    public Upsample(long channels, ScalarType dtype, Device? device)
        : base(nameof(Upsample))
    {
        conv = Convolution2d.Same3x3(channels, channels, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var doubled = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return conv.call(doubled);
    }
}
