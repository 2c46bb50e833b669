namespace FluxStudio.Web.Services;

/// <summary>
/// Checks an uploaded image by its content, never by the name or type the client claims, and reads it with a size
/// limit. Uploads are kept in memory or under names the server makes; a client's file name never reaches the disk.
/// </summary>
public static class ImageUpload
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The image type the bytes start with (<c>image/png</c>, <c>image/jpeg</c>, <c>image/webp</c>), or null.</summary>
    public static string? SniffType(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith(PngSignature))
            return "image/png";
        if (head.Length >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF)
            return "image/jpeg";
        if (head.Length >= 12 && head[..4].SequenceEqual("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
            return "image/webp";
        return null;
    }

    /// <summary>Reads at most <paramref name="maxBytes"/>; null when the stream is longer.</summary>
    public static async Task<byte[]?> ReadLimitedAsync(Stream body, long maxBytes, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>The message for an upload that is not a supported image, or null when it is one.</summary>
    public static string? Check(byte[]? bytes, long maxBytes)
    {
        if (bytes is null)
            return $"The image is larger than {maxBytes / (1024 * 1024)} MB; use a smaller one.";
        if (bytes.Length == 0)
            return "No image was sent; send a PNG, JPEG or WebP image as the request body.";
        return SniffType(bytes) is null ? "The file is not a PNG, JPEG or WebP image; choose one of those." : null;
    }
}
