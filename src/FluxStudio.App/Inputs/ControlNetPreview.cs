using FluxStudio.App.Outputs;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Inputs;

/// <summary>
/// The Canny edge map a ControlNet generation would be guided by, before it runs: the picture resized to the output
/// size and its edges found exactly as the engine does (<see cref="CannyControlImage.Prepare"/>), so the preview is what
/// the ControlNet gets.
/// </summary>
public static class ControlNetPreview
{
    /// <summary>The largest side previewed, as large as the Generate tab's sizes go.</summary>
    public const int MaxSide = 4096;

    /// <exception cref="ArgumentException">The size is not between 1 and <see cref="MaxSide"/>; the message says so.</exception>
    public static byte[] EdgesPng(RgbImage picture, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(picture);
        foreach (var (name, value) in new[] { ("width", width), ("height", height) })
        {
            if (value < 1 || value > MaxSide)
                throw new ArgumentException($"The preview's {name} must be between 1 and {MaxSide} pixels; it is {value}.");
        }
        return PngEncoder.Encode(CannyControlImage.Prepare(picture, width, height));
    }
}
