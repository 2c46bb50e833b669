using System.Runtime.InteropServices;
using SkiaSharp;

namespace FluxStudio.App.Tests.BackgroundRemoval;

/// <summary>Makes encoded test images and reads results back, with SkiaSharp directly (not through the code under test).</summary>
internal static class TestImages
{
    public sealed record Pixels(int Width, int Height, byte[] Data, int Channels)
    {
        public ReadOnlySpan<byte> At(int x, int y) => Data.AsSpan((y * Width + x) * Channels, Channels);
    }

    /// <summary>An RGBA image whose pixel (x, y) is <paramref name="pixel"/>(x, y).</summary>
    public static Pixels Rgba(int width, int height, Func<int, int, (byte R, byte G, byte B, byte A)> pixel)
    {
        var data = new byte[width * height * 4];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var (r, g, b, a) = pixel(x, y);
            var i = (y * width + x) * 4;
            (data[i], data[i + 1], data[i + 2], data[i + 3]) = (r, g, b, a);
        }
        return new Pixels(width, height, data, 4);
    }

    public static byte[] EncodePng(Pixels pixels) => Encode(pixels, SKEncodedImageFormat.Png, 100);

    public static byte[] EncodeJpeg(Pixels pixels, int quality = 95) => Encode(pixels, SKEncodedImageFormat.Jpeg, quality);

    public static byte[] EncodeWebp(Pixels pixels, bool lossless)
    {
        using var bitmap = ToBitmap(pixels);
        using var pixmap = bitmap.PeekPixels();
        var options = new SKWebpEncoderOptions(lossless ? SKWebpEncoderCompression.Lossless : SKWebpEncoderCompression.Lossy, 90);
        using var data = pixmap.Encode(options) ?? throw new InvalidOperationException("WebP encoding failed");
        return data.ToArray();
    }

    public static byte[] EncodeGrayPng(int width, int height, Func<int, int, byte> gray)
    {
        var data = new byte[width * height];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
            data[y * width + x] = gray(x, y);
        return Encode(new Pixels(width, height, data, 1), SKEncodedImageFormat.Png, 100);
    }

    public static Pixels DecodeRgba(byte[] encoded) => Decode(encoded, SKColorType.Rgba8888, 4);

    public static Pixels DecodeGray(byte[] encoded) => Decode(encoded, SKColorType.Gray8, 1);

    /// <summary>The colour type the file itself stores (to tell a grayscale PNG from an RGBA one).</summary>
    public static SKColorType StoredColorType(byte[] encoded)
    {
        using var codec = SKCodec.Create(SKData.CreateCopy(encoded));
        return codec.Info.ColorType;
    }

    /// <summary>Inserts an EXIF block holding only an orientation tag right after a JPEG's start-of-image marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,   // big-endian TIFF header, first IFD at 8
            0x00, 0x01,                                                 // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,             // tag 0x0112 Orientation, SHORT, count 1
            (byte)(orientation >> 8), (byte)orientation, 0x00, 0x00,    // value
            0x00, 0x00, 0x00, 0x00,                                     // no next IFD
        ];
        byte[] exif = [.. "Exif\0\0"u8, .. tiff];
        var length = exif.Length + 2;
        byte[] segment = [0xFF, 0xE1, (byte)(length >> 8), (byte)length, .. exif];
        return [.. jpeg.AsSpan(0, 2), .. segment, .. jpeg.AsSpan(2)];
    }

    private static SKBitmap ToBitmap(Pixels pixels)
    {
        var info = pixels.Channels == 4
            ? new SKImageInfo(pixels.Width, pixels.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul)
            : new SKImageInfo(pixels.Width, pixels.Height, SKColorType.Gray8, SKAlphaType.Opaque);
        var bitmap = new SKBitmap(info);
        var rowBytes = pixels.Width * pixels.Channels;
        for (var y = 0; y < pixels.Height; y++)
            Marshal.Copy(pixels.Data, y * rowBytes, bitmap.GetPixels() + y * bitmap.RowBytes, rowBytes);
        return bitmap;
    }

    private static byte[] Encode(Pixels pixels, SKEncodedImageFormat format, int quality)
    {
        using var bitmap = ToBitmap(pixels);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    private static Pixels Decode(byte[] encoded, SKColorType colorType, int channels)
    {
        using var codec = SKCodec.Create(SKData.CreateCopy(encoded)) ?? throw new InvalidDataException("not an image");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, colorType,
            channels == 4 ? SKAlphaType.Unpremul : SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, bitmap.GetPixels()));
        var data = new byte[info.Width * info.Height * channels];
        var rowBytes = info.Width * channels;
        for (var y = 0; y < info.Height; y++)
            Marshal.Copy(bitmap.GetPixels() + y * bitmap.RowBytes, data, y * rowBytes, rowBytes);
        return new Pixels(info.Width, info.Height, data, channels);
    }
}
