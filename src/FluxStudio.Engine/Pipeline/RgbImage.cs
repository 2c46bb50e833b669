namespace FluxStudio.Engine.Pipeline;

/// <summary>Tightly packed 8-bit RGB pixels, rows top to bottom, 3 bytes a pixel.</summary>
public sealed record RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"Expected {width * height * 3} bytes for {width}×{height} RGB, got {pixels.Length}.", nameof(pixels));
        (Width, Height, Pixels) = (width, height, pixels);
    }

    public int Width { get; }

    public int Height { get; }

    public byte[] Pixels { get; }

    public byte this[int row, int column, int channel] => Pixels[(row * Width + column) * 3 + channel];
}
