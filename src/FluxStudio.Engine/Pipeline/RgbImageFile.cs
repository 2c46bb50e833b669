using System.Runtime.InteropServices;
using OpenCvSharp;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// Reads the pictures a generation starts from (a ControlNet's reference, an image-to-image start) as mflux opens them:
/// decoded to 8-bit RGB with alpha dropped, grey repeated and no EXIF rotation, like Pillow's <c>convert("RGB")</c>.
/// </summary>
public static class RgbImageFile
{
    /// <summary>Decodes a PNG, JPEG, WebP, BMP or TIFF file's bytes.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an image OpenCV can decode.</exception>
    public static RgbImage Decode(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        using var bgr = Cv2.ImDecode(encoded, ImreadModes.Color | ImreadModes.IgnoreOrientation);
        if (bgr.Empty())
            throw new InvalidDataException("It is not a picture that can be decoded; use a PNG, JPEG, WebP, BMP or TIFF file.");
        using var rgb = new Mat();
        Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
        return new RgbImage(rgb.Width, rgb.Height, Bytes(rgb));
    }

    /// <summary>Reads and decodes an image file (see <see cref="Decode"/>); the message of a failure names the file.</summary>
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

    /// <summary>The pixels of a matrix OpenCV allocated (so continuous), row by row.</summary>
    internal static byte[] Bytes(Mat image)
    {
        var bytes = new byte[checked((int)(image.Total() * image.ElemSize()))];
        Marshal.Copy(image.Data, bytes, 0, bytes.Length);
        return bytes;
    }
}
