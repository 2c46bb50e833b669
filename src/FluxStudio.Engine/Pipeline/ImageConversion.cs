using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Pipeline;

public static class ImageConversion
{
    private static readonly Scalar MinusOne = -1, HalfWhite = 127.5;

    /// <summary>
    /// A decoded image (1, 3, H, W) in [−1, 1] to 8-bit RGB the way the reference saves it: clamp, 127.5·(x + 1),
    /// then a cast that truncates toward zero (diffusers rounds instead; a seed would not give the reference's image).
    /// </summary>
    public static RgbImage ToRgb(Tensor decoded)
    {
        if (decoded.dim() != 4 || decoded.shape[0] != 1 || decoded.shape[1] != 3)
            throw new ArgumentException($"expected one RGB image (1, 3, H, W), got [{string.Join(", ", decoded.shape)}]", nameof(decoded));
        using var scope = NewDisposeScope();
        var hwc = ((decoded[0].to(ScalarType.Float32, CPU).clamp(MinusOne, One).add(One, One)) * HalfWhite).permute(1, 2, 0).contiguous();
        var bytes = hwc.to(ScalarType.Byte).bytes.ToArray();
        return new RgbImage((int)decoded.shape[3], (int)decoded.shape[2], bytes);
    }

    /// <summary>8-bit RGB to the VAE's input (1, 3, H, W) in [−1, 1].</summary>
    public static Tensor FromRgb(RgbImage image, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var hwc = tensor(image.Pixels, [image.Height, image.Width, 3]).to(ScalarType.Float32);
        return (hwc.permute(2, 0, 1).unsqueeze(0) / HalfWhite - One).to(device ?? CPU).MoveToOuterDisposeScope();
    }
}
