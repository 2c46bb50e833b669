using FluxStudio.Web.Services;

namespace FluxStudio.Web.Tests;

public sealed class ImageUploadTests
{
    [Theory]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0 }, "image/png")]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0 }, "image/jpeg")]
    [InlineData(new byte[] { 0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x45, 0x42, 0x50, 0 }, "image/webp")]
    [InlineData(new byte[] { 0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x41, 0x56, 0x45, 0 }, null)]
    [InlineData(new byte[] { 0x47, 0x49, 0x46, 0x38, 0x39, 0x61 }, null)]
    [InlineData(new byte[] { 0x89, 0x50 }, null)]
    public void RecognisesTheTypeFromTheContent(byte[] head, string? type) =>
        Assert.Equal(type, ImageUpload.SniffType(head));

    [Fact]
    public async Task StopsReadingAtTheLimit()
    {
        Assert.Null(await ImageUpload.ReadLimitedAsync(new MemoryStream(new byte[101]), 100, CancellationToken.None));
        Assert.Equal(100, (await ImageUpload.ReadLimitedAsync(new MemoryStream(new byte[100]), 100, CancellationToken.None))!.Length);
    }
}
