using FluxStudio.Engine.Pipeline;
using SkiaSharp;

namespace FluxStudio.App.Outputs;

/// <summary>Encodes generator pixels as PNG.</summary>
public static class PngEncoder
{
    public static byte[] Encode(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        // Skia has no packed 24-bit format; widen to RGBA with opaque alpha, which the encoder writes as RGB.
        var rgba = new byte[image.Width * image.Height * 4];
        var rgb = image.Pixels;
        for (int source = 0, target = 0; source < rgb.Length; source += 3, target += 4)
        {
            rgba[target] = rgb[source];
            rgba[target + 1] = rgb[source + 1];
            rgba[target + 2] = rgb[source + 2];
            rgba[target + 3] = 255;
        }
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var skImage = SKImage.FromPixelCopy(info, rgba, info.RowBytes)
                            ?? throw new InvalidOperationException("The image could not be prepared for PNG encoding.");
        using var data = skImage.Encode(SKEncodedImageFormat.Png, 100)
                         ?? throw new InvalidOperationException("PNG encoding failed.");
        return data.ToArray();
    }
}
