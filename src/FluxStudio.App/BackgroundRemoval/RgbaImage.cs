using System.Runtime.InteropServices;
using SkiaSharp;

namespace FluxStudio.App.BackgroundRemoval;

/// <summary>Pixels as they are displayed: 8-bit RGBA, not premultiplied, rows top to bottom, no padding.</summary>
public sealed class RgbaImage
{
    public RgbaImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (pixels.Length != checked(width * height * 4))
            throw new ArgumentException($"expected {width}×{height}×4 bytes, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public bool HasTransparency
    {
        get
        {
            for (var i = 3; i < Pixels.Length; i += 4)
                if (Pixels[i] != 255) return true;
            return false;
        }
    }

    /// <summary>Decodes any format SkiaSharp reads, applying the EXIF orientation so the result is upright.</summary>
    /// <exception cref="BackgroundRemovalException">The bytes are not a readable image, or it has too many pixels.</exception>
    public static RgbaImage Decode(byte[] encoded, double maxMegapixels)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data) ?? throw new BackgroundRemovalException(BackgroundRemovalError.InvalidImage,
            "The file is not an image that can be read (or it is damaged). Use a PNG, JPEG, WebP, GIF or BMP file.");

        // Checked on the header, before any pixel is decoded, so a small file cannot expand into gigabytes.
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        var megapixels = (double)width * height / 1_000_000;
        if (megapixels > maxMegapixels)
            throw new BackgroundRemovalException(BackgroundRemovalError.ImageTooLarge,
                $"The image is {width}×{height} ({megapixels:0.#} megapixels); the limit is {maxMegapixels:0.#} megapixels. " +
                "Scale it down, or raise BackgroundRemoval:MaxMegapixels.");

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new BackgroundRemovalException(BackgroundRemovalError.InvalidImage,
                $"The image could not be decoded ({DescribeCodecResult(result)}). Check that the file is complete and not damaged.");

        return FromBitmap(bitmap).ToUpright(codec.EncodedOrigin);
    }

    /// <summary>Copies an RGBA8888 unpremultiplied bitmap.</summary>
    internal static RgbaImage FromBitmap(SKBitmap bitmap)
    {
        var pixels = new byte[bitmap.Width * bitmap.Height * 4];
        var rowBytes = bitmap.Width * 4;
        var source = bitmap.GetPixels();
        for (var y = 0; y < bitmap.Height; y++)
            Marshal.Copy(source + y * bitmap.RowBytes, pixels, y * rowBytes, rowBytes);
        return new RgbaImage(bitmap.Width, bitmap.Height, pixels);
    }

    /// <summary>Applies an EXIF orientation (the transform that makes the stored pixels display upright).</summary>
    public RgbaImage ToUpright(SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return this;
        var (w, h) = (Width, Height);
        var swapsAxes = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var (outWidth, outHeight) = swapsAxes ? (h, w) : (w, h);
        var source = MemoryMarshal.Cast<byte, uint>(Pixels.AsSpan());
        var output = new byte[Pixels.Length];
        var target = MemoryMarshal.Cast<byte, uint>(output.AsSpan());
        for (var y = 0; y < outHeight; y++)
        for (var x = 0; x < outWidth; x++)
        {
            var (sx, sy) = origin switch
            {
                SKEncodedOrigin.TopRight => (w - 1 - x, y),              // mirrored horizontally
                SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),   // rotated 180°
                SKEncodedOrigin.BottomLeft => (x, h - 1 - y),            // mirrored vertically
                SKEncodedOrigin.LeftTop => (y, x),                       // transposed
                SKEncodedOrigin.RightTop => (y, h - 1 - x),              // shown rotated 90° clockwise
                SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),   // transversed
                SKEncodedOrigin.LeftBottom => (w - 1 - y, x),            // shown rotated 90° counter-clockwise
                _ => (x, y),
            };
            target[y * outWidth + x] = source[sy * w + sx];
        }
        return new RgbaImage(outWidth, outHeight, output);
    }

    /// <summary>An opaque bitmap of the image over white, which is what the model sees of transparent pixels.</summary>
    internal SKBitmap ToOpaqueBitmapOverWhite()
    {
        if (!HasTransparency) return ToBitmap(Pixels, Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var opaque = new byte[Pixels.Length];
        for (var i = 0; i < Pixels.Length; i += 4)
        {
            var alpha = Pixels[i + 3];
            for (var c = 0; c < 3; c++)
                opaque[i + c] = (byte)((Pixels[i + c] * alpha + 255 * (255 - alpha) + 127) / 255);
            opaque[i + 3] = 255;
        }
        return ToBitmap(opaque, Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
    }

    internal static SKBitmap ToBitmap(byte[] pixels, int width, int height, SKColorType colorType, SKAlphaType alphaType)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, colorType, alphaType));
        var bytesPerPixel = bitmap.BytesPerPixel;
        var destination = bitmap.GetPixels();
        for (var y = 0; y < height; y++)
            Marshal.Copy(pixels, y * width * bytesPerPixel, destination + y * bitmap.RowBytes, width * bytesPerPixel);
        return bitmap;
    }

    private static string DescribeCodecResult(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the file ends before the image does",
        SKCodecResult.ErrorInInput => "the file's data is damaged",
        SKCodecResult.Unimplemented => "this variant of the format is not supported",
        _ => result.ToString(),
    };
}
