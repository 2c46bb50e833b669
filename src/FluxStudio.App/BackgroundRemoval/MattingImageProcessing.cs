using SkiaSharp;

namespace FluxStudio.App.BackgroundRemoval;

/// <summary>
/// The pre- and post-processing BRIA specifies for RMBG-2.0 (and BiRefNet/ISNet share): bilinear resize to the
/// model's size, [0, 1] scaling and ImageNet normalisation in; a probability map resized back to the image and used
/// as its alpha channel out.
/// </summary>
public static class MattingImageProcessing
{
    public static ReadOnlySpan<float> ImageNetMean => [0.485f, 0.456f, 0.406f];
    public static ReadOnlySpan<float> ImageNetStd => [0.229f, 0.224f, 0.225f];

    private static readonly SKSamplingOptions Bilinear = new(SKFilterMode.Linear, SKMipmapMode.None);

    /// <summary>The model input: a [1, 3, height, width] tensor's data (RGB planes, row-major).</summary>
    public static float[] ToModelInput(RgbaImage image, int width, int height)
    {
        using var opaque = image.ToOpaqueBitmapOverWhite();
        using var resized = opaque.Width == width && opaque.Height == height ? null : Resize(opaque, width, height);
        var pixels = RgbaImage.FromBitmap(resized ?? opaque).Pixels;
        var planeSize = width * height;
        var input = new float[3 * planeSize];
        for (var c = 0; c < 3; c++)
        {
            var (mean, std) = (ImageNetMean[c], ImageNetStd[c]);
            var plane = input.AsSpan(c * planeSize, planeSize);
            for (var i = 0; i < planeSize; i++)
                plane[i] = (pixels[i * 4 + c] / 255f - mean) / std;
        }
        return input;
    }

    /// <summary>Turns the model's raw output into probabilities in [0, 1].</summary>
    public static float[] ToProbabilities(ReadOnlySpan<float> output, MaskActivation activation)
    {
        var applySigmoid = activation switch
        {
            MaskActivation.Sigmoid => true,
            MaskActivation.None => false,
            _ => LeavesUnitInterval(output),
        };
        var probabilities = new float[output.Length];
        for (var i = 0; i < output.Length; i++)
            probabilities[i] = applySigmoid ? 1f / (1f + MathF.Exp(-output[i])) : Math.Clamp(output[i], 0f, 1f);
        return probabilities;
    }

    /// <summary>
    /// Resizes a probability map (bilinear, pixel centres aligned as in the input resize) to the image's size and
    /// quantises it to 8 bits. Done in floats, so the 8-bit rounding happens once, at full size.
    /// </summary>
    public static byte[] ToMask(ReadOnlySpan<float> probabilities, int maskWidth, int maskHeight, int width, int height)
    {
        if (probabilities.Length != maskWidth * maskHeight)
            throw new ArgumentException($"expected {maskWidth}×{maskHeight} values, got {probabilities.Length}", nameof(probabilities));
        var columns = BilinearTaps(maskWidth, width);
        var rows = BilinearTaps(maskHeight, height);
        var mask = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            var (top, bottom, ty) = rows[y];
            var upper = probabilities.Slice(top * maskWidth, maskWidth);
            var lower = probabilities.Slice(bottom * maskWidth, maskWidth);
            for (var x = 0; x < width; x++)
            {
                var (left, right, tx) = columns[x];
                var above = upper[left] + (upper[right] - upper[left]) * tx;
                var below = lower[left] + (lower[right] - lower[left]) * tx;
                mask[y * width + x] = (byte)MathF.Round((above + (below - above) * ty) * 255f);
            }
        }
        return mask;
    }

    /// <summary>For each target index: the two source indices around its centre and the weight of the second.</summary>
    private static (int First, int Second, float Weight)[] BilinearTaps(int sourceSize, int targetSize)
    {
        var taps = new (int, int, float)[targetSize];
        var scale = (double)sourceSize / targetSize;
        for (var i = 0; i < targetSize; i++)
        {
            var position = Math.Clamp((i + 0.5) * scale - 0.5, 0, sourceSize - 1);
            var first = (int)position;
            taps[i] = (first, Math.Min(first + 1, sourceSize - 1), (float)(position - first));
        }
        return taps;
    }

    /// <summary>
    /// The image's own colours with the mask as alpha. A pixel that was already (partly) transparent stays at
    /// least as transparent: the alphas multiply.
    /// </summary>
    public static byte[] EncodeCutoutPng(RgbaImage image, ReadOnlySpan<byte> mask)
    {
        if (mask.Length != image.Width * image.Height)
            throw new ArgumentException("the mask must have one value per pixel", nameof(mask));
        var pixels = (byte[])image.Pixels.Clone();
        for (var i = 0; i < mask.Length; i++)
            pixels[i * 4 + 3] = (byte)((pixels[i * 4 + 3] * mask[i] + 127) / 255);
        using var bitmap = RgbaImage.ToBitmap(pixels, image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        return EncodePng(bitmap);
    }

    public static byte[] EncodeMaskPng(byte[] mask, int width, int height)
    {
        using var bitmap = RgbaImage.ToBitmap(mask, width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        return EncodePng(bitmap);
    }

    private static bool LeavesUnitInterval(ReadOnlySpan<float> values)
    {
        foreach (var value in values)
            if (value is < 0f or > 1f) return true;
        return false;
    }

    private static SKBitmap Resize(SKBitmap source, int width, int height) =>
        source.Resize(new SKImageInfo(width, height, source.ColorType, source.AlphaType), Bilinear)
        ?? throw new InvalidOperationException($"SkiaSharp could not resize a {source.ColorType} image to {width}×{height}");

    private static byte[] EncodePng(SKBitmap bitmap)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
