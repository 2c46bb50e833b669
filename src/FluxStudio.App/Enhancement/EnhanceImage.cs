namespace FluxStudio.App.Enhancement;

/// <summary>An image for a vision model, checked to be a PNG, JPEG or WebP file of reasonable size.</summary>
public sealed record EnhanceImage
{
    /// <summary>Vision models scale images down to well under a megapixel; more than this is a mistake, not a photo.</summary>
    public const int MaxBytes = 20 * 1024 * 1024;

    private EnhanceImage(byte[] data, string mediaType)
    {
        Data = data;
        MediaType = mediaType;
    }

    public byte[] Data { get; }

    /// <summary><c>image/png</c>, <c>image/jpeg</c> or <c>image/webp</c>, read from the bytes, not from a file name.</summary>
    public string MediaType { get; }

    /// <summary>Checks the bytes and returns the image, or throws <see cref="EnhancerException"/> saying what is wrong.</summary>
    public static EnhanceImage FromBytes(byte[] data, string sourceName = "The image")
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length == 0)
            throw Invalid($"{sourceName} is empty.");
        if (data.Length > MaxBytes)
            throw Invalid($"{sourceName} is {data.Length / (1024 * 1024)} MB; the limit is {MaxBytes / (1024 * 1024)} MB. Use a smaller image.");
        var mediaType = SniffMediaType(data)
            ?? throw Invalid($"{sourceName} is not a PNG, JPEG or WebP image. Convert it to one of these formats.");
        return new EnhanceImage(data, mediaType);
    }

    /// <summary>Decodes base64 (optionally a <c>data:image/...;base64,</c> URL), as sent by the web API.</summary>
    public static EnhanceImage FromBase64(string base64, string sourceName = "The image")
    {
        ArgumentNullException.ThrowIfNull(base64);
        var comma = base64.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? base64.IndexOf(',') : -1;
        var payload = comma >= 0 ? base64[(comma + 1)..] : base64;
        byte[] data;
        try
        {
            data = Convert.FromBase64String(payload.Trim());
        }
        catch (FormatException)
        {
            throw Invalid($"{sourceName} is not valid base64. Send the file's bytes base64-encoded.");
        }
        return FromBytes(data, sourceName);
    }

    public static async Task<EnhanceImage> FromFileAsync(string path, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var file = new FileInfo(path);
        if (!file.Exists)
            throw Invalid($"Image file not found: {file.FullName}");
        if (file.Length > MaxBytes)
            throw Invalid($"Image file {file.FullName} is {file.Length / (1024 * 1024)} MB; the limit is {MaxBytes / (1024 * 1024)} MB. Use a smaller image.");
        var data = await File.ReadAllBytesAsync(file.FullName, cancellationToken).ConfigureAwait(false);
        return FromBytes(data, $"Image file {file.FullName}");
    }

    private static string? SniffMediaType(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
            return "image/png";
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
            return "image/jpeg";
        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8))
            return "image/webp";
        return null;
    }

    private static EnhancerException Invalid(string message) => new(EnhancerErrorKind.InvalidRequest, message);
}
