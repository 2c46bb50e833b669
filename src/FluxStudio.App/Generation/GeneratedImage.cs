namespace FluxStudio.App.Generation;

/// <summary>Tightly packed 8-bit RGB pixels, row by row, top row first.</summary>
public sealed record RgbImage
{
    public RgbImage(int width, int height, byte[] rgb)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(rgb);
        if (rgb.Length != checked(width * height * 3))
            throw new ArgumentException($"Expected {width * height * 3} bytes for {width}x{height} RGB, got {rgb.Length}.", nameof(rgb));
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Rgb { get; }
}

/// <summary>
/// What a generator returns: the image (raw pixels or an encoded PNG) and the facts of how it was made.
/// </summary>
public sealed record GeneratedImage
{
    /// <summary>Raw pixels; set this or <see cref="Png"/>.</summary>
    public RgbImage? Pixels { get; init; }

    /// <summary>An encoded PNG; set this or <see cref="Pixels"/>.</summary>
    public byte[]? Png { get; init; }

    public required long Seed { get; init; }

    /// <summary>The prompt the model saw (with LoRA keywords).</summary>
    public required string Prompt { get; init; }

    public required string Device { get; init; }

    /// <summary>The compute precision, e.g. <c>bfloat16</c>.</summary>
    public required string Precision { get; init; }

    public TimeSpan GenerationTime { get; init; }
}
