using FluxStudio.App.BackgroundRemoval;

namespace FluxStudio.App.Tests.BackgroundRemoval;

public sealed class MattingImageProcessingTests
{
    private static readonly double[] Mean = [0.485, 0.456, 0.406];
    private static readonly double[] Std = [0.229, 0.224, 0.225];

    private static RgbaImage Image(int width, int height, Func<int, int, int, byte> channel)
    {
        var pixels = new byte[width * height * 4];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            for (var c = 0; c < 3; c++) pixels[(y * width + x) * 4 + c] = channel(x, y, c);
            pixels[(y * width + x) * 4 + 3] = 255;
        }
        return new RgbaImage(width, height, pixels);
    }

    /// <summary>Bilinear interpolation with pixel centres at +0.5 and clamped edges, written out for the test.</summary>
    private static double Bilinear(RgbaImage image, int channel, int width, int height, int x, int y)
    {
        double Sample(int sx, int sy) => image.Pixels[(sy * image.Width + sx) * 4 + channel];
        var fx = Math.Clamp((x + 0.5) * image.Width / width - 0.5, 0, image.Width - 1);
        var fy = Math.Clamp((y + 0.5) * image.Height / height - 0.5, 0, image.Height - 1);
        int x0 = (int)Math.Floor(fx), y0 = (int)Math.Floor(fy);
        int x1 = Math.Min(x0 + 1, image.Width - 1), y1 = Math.Min(y0 + 1, image.Height - 1);
        double tx = fx - x0, ty = fy - y0;
        return (1 - ty) * ((1 - tx) * Sample(x0, y0) + tx * Sample(x1, y0)) + ty * ((1 - tx) * Sample(x0, y1) + tx * Sample(x1, y1));
    }

    [Theory]
    [InlineData(4, 3)]    // down by 2
    [InlineData(16, 12)]  // up by 2
    [InlineData(5, 9)]    // other shape
    public void TheInputIsABilinearResizeScaledToUnitRangeAndImageNetNormalisedInRgbPlanes(int width, int height)
    {
        // Each channel follows its own smooth ramp, so a swapped channel or axis shows at once.
        var image = Image(8, 6, (x, y, c) => (byte)(c switch { 0 => 20 + x * 30, 1 => 10 + y * 45, _ => 200 - x * 10 - y * 12 }));

        var input = MattingImageProcessing.ToModelInput(image, width, height);

        Assert.Equal(3 * width * height, input.Length);
        for (var c = 0; c < 3; c++)
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var expected = (Bilinear(image, c, width, height, x, y) / 255 - Mean[c]) / Std[c];
            var actual = input[(c * height + y) * width + x];
            // One 8-bit step of the resized image, after dividing by the smallest std.
            Assert.True(Math.Abs(expected - actual) <= 1.0 / 255 / 0.224 + 1e-4,
                $"channel {c} at ({x}, {y}): expected {expected:0.0000}, got {actual:0.0000}");
        }
    }

    [Fact]
    public void AtTheModelsOwnSizeTheInputIsExact()
    {
        var image = Image(3, 2, (x, y, c) => (byte)(x * 90 + y * 40 + c * 7));

        var input = MattingImageProcessing.ToModelInput(image, 3, 2);

        for (var c = 0; c < 3; c++)
        for (var y = 0; y < 2; y++)
        for (var x = 0; x < 3; x++)
            Assert.Equal((x * 90 + y * 40 + c * 7) / 255.0 - Mean[c], input[(c * 2 + y) * 3 + x] * Std[c], 5);
    }

    [Fact]
    public void OutputsOutsideTheUnitRangeAreTakenAsLogits()
    {
        float[] logits = [-3f, 0f, 2f, 0.5f];

        var probabilities = MattingImageProcessing.ToProbabilities(logits, MaskActivation.Auto);

        Assert.Equal(logits.Select(z => 1 / (1 + Math.Exp(-z))), probabilities.Select(p => (double)p), new ToleranceComparer(1e-6));
    }

    [Fact]
    public void OutputsInsideTheUnitRangeAreTakenAsProbabilities()
    {
        float[] probabilities = [0f, 0.25f, 0.5f, 1f];

        Assert.Equal(probabilities, MattingImageProcessing.ToProbabilities(probabilities, MaskActivation.Auto));
        Assert.Equal(0.5f, MattingImageProcessing.ToProbabilities(probabilities, MaskActivation.Sigmoid)[0]);
        Assert.Equal([0f, 1f], MattingImageProcessing.ToProbabilities([-2f, 3f], MaskActivation.None));
    }

    [Fact]
    public void TheMaskIsResizedBilinearlyToTheImage()
    {
        // A 2×1 mask (0 and 1) stretched to 8×2: a ramp between the two pixel centres, flat beyond them.
        var mask = MattingImageProcessing.ToMask([0f, 1f], 2, 1, 8, 2);

        Assert.Equal(16, mask.Length);
        for (var x = 0; x < 8; x++)
        {
            var expected = 255 * Math.Clamp((x + 0.5) * 2 / 8 - 0.5, 0, 1);
            Assert.True(Math.Abs(expected - mask[x]) <= 0.5, $"x = {x}: expected {expected}, got {mask[x]}");
            Assert.Equal(mask[x], mask[8 + x]);
        }
    }

    [Fact]
    public void TheMaskResizeKeepsRowsAndColumnsApart()
    {
        float[] probabilities = [0f, 1f, 0.5f, 0.25f, 0.75f, 1f];   // 3 wide, 2 high

        var mask = MattingImageProcessing.ToMask(probabilities, 3, 2, 7, 5);

        for (var y = 0; y < 5; y++)
        for (var x = 0; x < 7; x++)
        {
            var fx = Math.Clamp((x + 0.5) * 3 / 7 - 0.5, 0, 2);
            var fy = Math.Clamp((y + 0.5) * 2 / 5 - 0.5, 0, 1);
            int x0 = (int)fx, x1 = Math.Min(x0 + 1, 2);
            double Row(int row) => probabilities[row * 3 + x0] * (1 - (fx - x0)) + probabilities[row * 3 + x1] * (fx - x0);
            var expected = 255 * (Row(0) * (1 - fy) + Row(1) * fy);
            Assert.True(Math.Abs(expected - mask[y * 7 + x]) <= 0.5 + 1e-3, $"({x}, {y}): expected {expected:0.###}, got {mask[y * 7 + x]}");
        }
    }

    [Fact]
    public void AtTheSameSizeTheMaskIsOnlyQuantised()
    {
        Assert.Equal(new byte[] { 0, 64, 128, 255 }, MattingImageProcessing.ToMask([0f, 0.25f, 0.5f, 1f], 2, 2, 2, 2));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
