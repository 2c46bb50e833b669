namespace FluxStudio.Engine.Pipeline;

/// <summary>An 8-bit RGB image, rows top to bottom, pixels left to right, 3 bytes each.</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    public byte this[int row, int column, int channel] => Pixels[(row * Width + column) * 3 + channel];
}
