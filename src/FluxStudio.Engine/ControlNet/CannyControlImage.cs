using System.Runtime.InteropServices;
using FluxStudio.Engine.Pipeline;
using OpenCvSharp;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// The control image of a Canny ControlNet, made as mflux makes it: the picture as RGB, resized to the output size with
/// Pillow's Lanczos filter when its size differs, then OpenCV's Canny on the 3-channel array (thresholds 100 and 200,
/// aperture 3, L1 gradient; per pixel the channel with the strongest gradient counts), the one-channel result repeated
/// in all three channels.
/// </summary>
public static class CannyControlImage
{
    public const double LowThreshold = 100;
    public const double HighThreshold = 200;
    public const int ApertureSize = 3;

    /// <summary>Decodes a PNG, JPEG, WebP, BMP or TIFF file as 8-bit RGB (alpha dropped, grey repeated, no EXIF rotation, like Pillow's <c>convert("RGB")</c>).</summary>
    /// <exception cref="InvalidDataException">The bytes are not an image OpenCV can decode.</exception>
    public static RgbImage Decode(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        using var bgr = Cv2.ImDecode(encoded, ImreadModes.Color | ImreadModes.IgnoreOrientation);
        if (bgr.Empty())
            throw new InvalidDataException("The control image is not a picture that can be decoded; use a PNG, JPEG, WebP, BMP or TIFF file.");
        using var rgb = new Mat();
        Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
        return new RgbImage(rgb.Width, rgb.Height, Bytes(rgb));
    }

    /// <summary>Reads and decodes an image file (see <see cref="Decode"/>).</summary>
    public static RgbImage Read(string path)
    {
        try
        {
            return Decode(File.ReadAllBytes(path));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>The edge map a generation of <paramref name="width"/> × <paramref name="height"/> is conditioned on.</summary>
    public static RgbImage Prepare(RgbImage image, int width, int height) => Edges(LanczosResize.Resize(image, width, height));

    /// <summary>Canny edges of the RGB pixels (0 or 255), repeated in three channels.</summary>
    public static RgbImage Edges(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var rgb = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC3, image.Pixels);
        using var edges = new Mat();
        Cv2.Canny(rgb, edges, LowThreshold, HighThreshold, ApertureSize, L2gradient: false);
        using var stacked = new Mat();
        Cv2.Merge([edges, edges, edges], stacked);
        return new RgbImage(image.Width, image.Height, Bytes(stacked));
    }

    /// <summary>The pixels of a matrix OpenCV allocated (so continuous), row by row.</summary>
    private static byte[] Bytes(Mat image)
    {
        var bytes = new byte[checked((int)(image.Total() * image.ElemSize()))];
        Marshal.Copy(image.Data, bytes, 0, bytes.Length);
        return bytes;
    }
}
