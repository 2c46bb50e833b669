using FluxStudio.Web.Security;
using Microsoft.Net.Http.Headers;

namespace FluxStudio.Web.Services;

/// <summary>
/// Checks an uploaded image by its content, never by the name or type the client claims, and reads it with a size
/// limit. Uploads are kept in memory or under names the server makes; a client's file name never reaches the disk.
/// </summary>
public static class ImageUpload
{
    /// <summary>The form field an API upload carries its file in.</summary>
    public const string FormField = "image";

    /// <summary>
    /// Room for the multipart envelope (boundaries, part headers) on top of <see cref="WebOptions.MaxUploadBytes"/>, so
    /// a file of exactly the allowed size fits the request limits.
    /// </summary>
    private const long EnvelopeBytes = 64 * 1024;

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The largest request body the server reads: an upload of the allowed size in its form.</summary>
    public static long RequestBodyLimit(long maxUploadBytes) => maxUploadBytes + EnvelopeBytes;

    /// <summary>
    /// The file of a <c>multipart/form-data</c> request, read with the size limit (null when larger), or the problem
    /// to answer with: other content types are refused (415) with what to send, as is a form without the file field.
    /// </summary>
    public static async Task<(byte[]? Bytes, IResult? Refusal)> ReadFormFileAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) ||
            !string.Equals(type.MediaType.Value, "multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return (null, TypedResults.Problem(
                $"Send the image as multipart/form-data, in the file field '{FormField}' (for example: curl -F {FormField}=@photo.png URL).",
                title: "The image was not accepted", statusCode: StatusCodes.Status415UnsupportedMediaType));
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            // The form reader's length limit, or the server's request limit: both are set from the upload limit.
            return (null, null);
        }
        if (form.Files.GetFile(FormField) is not { } file)
            return (null, TypedResults.Problem(
                $"The form has no file in the field '{FormField}'; send the image there (for example: curl -F {FormField}=@photo.png URL).",
                title: "The image was not accepted", statusCode: StatusCodes.Status400BadRequest));
        await using var stream = file.OpenReadStream();
        return (await ReadLimitedAsync(stream, maxBytes, ct), null);
    }

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
            return TooLarge(maxBytes);
        if (bytes.Length == 0)
            return "No image was sent; send a PNG, JPEG or WebP image.";
        return SniffType(bytes) is null ? "The file is not a PNG, JPEG or WebP image; choose one of those." : null;
    }

    public static string TooLarge(long maxBytes) =>
        $"The upload is larger than {FormatMegabytes(maxBytes)} MB; use a smaller file, or raise {WebOptions.SectionName}:{nameof(WebOptions.MaxUploadBytes)}.";

    private static string FormatMegabytes(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);
}
