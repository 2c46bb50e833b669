using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// Resizes 8-bit RGB with a Lanczos filter (a = 3) exactly as Pillow's <c>Image.resize(size, Image.LANCZOS)</c> does,
/// which mflux uses for control images: separable, horizontal pass first; the filter widened by the scale when
/// shrinking (so it also averages); weights normalised per output pixel, rounded to 22-bit fixed point, and the sums
/// rounded and clipped to 0–255 after each pass.
/// </summary>
/// <remarks>
/// Other libraries' Lanczos filters (OpenCV's 8-tap one, Skia's cubics, ImageMagick's floating-point one) give slightly
/// different pixels, and Canny's thresholds turn small differences into different edges, so the control image would
/// not be mflux's.
/// </remarks>
public static class LanczosResize
{
    private const double Support = 3.0;
    private const int PrecisionBits = 32 - 8 - 2;

    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (image.Width == width && image.Height == height) return image;

        var horizontal = Coefficients.For(image.Width, width);
        var vertical = Coefficients.For(image.Height, height);
        var pixels = image.Pixels;
        if (width != image.Width)
        {
            // Only the source rows the vertical pass reads are resized horizontally, as Pillow does.
            int first = vertical.Start[0], last = vertical.Start[height - 1] + vertical.Length[height - 1];
            pixels = Horizontal(pixels, image.Width, first, last - first, horizontal);
            vertical = vertical.ShiftedBy(-first);
        }
        if (height != image.Height)
            pixels = Vertical(pixels, width, height, vertical);
        return new RgbImage(width, height, pixels);
    }

    private static byte[] Horizontal(byte[] source, int sourceWidth, int firstRow, int rowCount, Coefficients k)
    {
        int width = k.Start.Length;
        var output = new byte[width * rowCount * 3];
        for (int y = 0; y < rowCount; y++)
        {
            int sourceRow = (firstRow + y) * sourceWidth * 3;
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int sum = 1 << (PrecisionBits - 1);
                    for (int i = 0; i < k.Length[x]; i++)
                        sum += source[sourceRow + (k.Start[x] + i) * 3 + c] * k.Weights[x][i];
                    output[(y * width + x) * 3 + c] = Clip(sum);
                }
            }
        }
        return output;
    }

    private static byte[] Vertical(byte[] source, int width, int height, Coefficients k)
    {
        var output = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int sum = 1 << (PrecisionBits - 1);
                    for (int i = 0; i < k.Length[y]; i++)
                        sum += source[((k.Start[y] + i) * width + x) * 3 + c] * k.Weights[y][i];
                    output[(y * width + x) * 3 + c] = Clip(sum);
                }
            }
        }
        return output;
    }

    private static byte Clip(int value) =>
        value >= 255 << PrecisionBits ? (byte)255 : value <= 0 ? (byte)0 : (byte)(value >> PrecisionBits);

    private static double Lanczos(double x) => x is >= -Support and < Support ? Sinc(x) * Sinc(x / Support) : 0.0;

    private static double Sinc(double x) => x == 0.0 ? 1.0 : Math.Sin(x * Math.PI) / (x * Math.PI);

    /// <summary>For each output pixel: the first source pixel it reads, how many, and their fixed-point weights.</summary>
    private sealed record Coefficients(int[] Start, int[] Length, int[][] Weights)
    {
        public static Coefficients For(int sourceSize, int outputSize)
        {
            double scale = (double)sourceSize / outputSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = Support * filterScale;
            double inverseScale = 1.0 / filterScale;
            var (start, length, weights) = (new int[outputSize], new int[outputSize], new int[outputSize][]);
            for (int i = 0; i < outputSize; i++)
            {
                double center = (i + 0.5) * scale;
                int min = Math.Max((int)(center - support + 0.5), 0);
                int max = Math.Min((int)(center + support + 0.5), sourceSize) - min;
                var w = new double[max];
                double total = 0;
                for (int j = 0; j < max; j++)
                    total += w[j] = Lanczos((j + min - center + 0.5) * inverseScale);
                weights[i] = w.Select(value => ToFixedPoint(total != 0 ? value / total : value)).ToArray();
                (start[i], length[i]) = (min, max);
            }
            return new Coefficients(start, length, weights);
        }

        public Coefficients ShiftedBy(int offset) => this with { Start = Start.Select(s => s + offset).ToArray() };

        private static int ToFixedPoint(double weight) =>
            (int)(weight < 0 ? -0.5 + weight * (1 << PrecisionBits) : 0.5 + weight * (1 << PrecisionBits));
    }
}
