using FluxStudio.App.Enhancement;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

public sealed class EnhanceImageTests
{
    [Fact]
    public void RecognisesTheFormatFromTheBytes()
    {
        Assert.Equal("image/png", EnhanceImage.FromBytes(PngBytes).MediaType);
        Assert.Equal("image/jpeg", EnhanceImage.FromBytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F']).MediaType);
        Assert.Equal("image/webp", EnhanceImage.FromBytes("RIFF\x24\0\0\0WEBPVP8 "u8.ToArray()).MediaType);
    }

    [Theory]
    [InlineData(new byte[0], "is empty")]
    [InlineData(new byte[] { (byte)'G', (byte)'I', (byte)'F', (byte)'8', (byte)'9', (byte)'a' }, "is not a PNG, JPEG or WebP image")]
    [InlineData(new byte[] { 0x80, 0x04, 0x95 }, "is not a PNG, JPEG or WebP image")]
    public void RefusesWhatIsNotASupportedImage(byte[] data, string expected)
    {
        var error = Assert.Throws<EnhancerException>(() => EnhanceImage.FromBytes(data));
        Assert.Equal(EnhancerErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void RefusesAnImageOverTheSizeLimit()
    {
        var data = new byte[EnhanceImage.MaxBytes + 1];
        PngBytes.CopyTo(data, 0);
        var error = Assert.Throws<EnhancerException>(() => EnhanceImage.FromBytes(data));
        Assert.Contains("the limit is 20 MB", error.Message);
    }

    [Fact]
    public void DecodesBase64AndDataUrls()
    {
        var base64 = Convert.ToBase64String(PngBytes);
        Assert.Equal(PngBytes, EnhanceImage.FromBase64(base64).Data);
        Assert.Equal(PngBytes, EnhanceImage.FromBase64($"data:image/png;base64,{base64}").Data);
        var error = Assert.Throws<EnhancerException>(() => EnhanceImage.FromBase64("not base64 at all!"));
        Assert.Contains("not valid base64", error.Message);
    }

    [Fact]
    public async Task ReadsAFileAndNamesAMissingOne()
    {
        var path = Path.Combine(Path.GetTempPath(), $"enhance-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(path, PngBytes);
        try
        {
            Assert.Equal(PngBytes, (await EnhanceImage.FromFileAsync(path, CancellationToken.None)).Data);
        }
        finally
        {
            File.Delete(path);
        }
        var error = await Assert.ThrowsAsync<EnhancerException>(() => EnhanceImage.FromFileAsync(path, CancellationToken.None));
        Assert.Contains($"Image file not found: {path}", error.Message);
    }
}
