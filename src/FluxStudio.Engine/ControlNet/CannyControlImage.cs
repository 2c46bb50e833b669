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
        return new RgbImage(image.Width, image.Height, RgbImageFile.Bytes(stacked));
    }
}
