using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Web.Security;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Services;

/// <summary>A picture handed in, or why it was refused (a sentence for the page), and whether for its size.</summary>
public sealed record PictureUpload(StoredImage? Image, string? Error, bool TooLarge = false);

/// <summary>
/// The pictures a generation starts from, for the Generate tab and the REST API: an upload (checked by its content and
/// size, kept in the <see cref="InputImageStore"/> under a name the server makes), a history entry's image handed on
/// ("send to image-to-image", "send to ControlNet"), a small preview of one, and the live Canny edge map a ControlNet
/// generation of a given size would be guided by. Requests from the web may name only pictures kept here
/// (<see cref="Check"/>).
/// </summary>
public sealed class InputPictures(InputImageStore store, HistoryStore history, IOptions<WebOptions> options)
{
    /// <summary>The longest side of <see cref="ThumbnailDataUrl"/>.</summary>
    public const int ThumbnailSide = 256;

    /// <summary>
    /// Keeps an uploaded picture (a PNG, JPEG or WebP file of at most <see cref="WebOptions.MaxUploadBytes"/>), read from
    /// <paramref name="content"/> (a browser file's stream, a form part).
    /// </summary>
    public async Task<PictureUpload> UploadAsync(Stream content, CancellationToken ct)
    {
        var max = options.Value.MaxUploadBytes;
        var bytes = await ImageUpload.ReadLimitedAsync(content, max, ct);
        if (ImageUpload.Check(bytes, max) is { } problem)
            return new PictureUpload(null, problem, TooLarge: bytes is null);
        try
        {
            return new PictureUpload(await store.SaveAsync(bytes!, ImageUpload.SniffType(bytes)!, ct), null);
        }
        catch (InvalidDataException e)
        {
            return new PictureUpload(null, e.Message);
        }
    }

    /// <summary>
    /// A history entry's image, kept as a picture to start a new generation from ("send to image-to-image" or "send to
    /// ControlNet" from a result or the History tab); null when there is no such entry.
    /// </summary>
    public async Task<StoredImage?> FromHistoryAsync(long historyId, CancellationToken ct)
    {
        await using var png = await history.OpenImageAsync(historyId, ct);
        return png is null ? null : await store.SavePngAsync(png, ct);
    }

    /// <summary>The kept picture a request names ("reuse these settings"), or null when the path is not one of them.</summary>
    public StoredImage? Find(string? path)
    {
        if (string.IsNullOrWhiteSpace(path) || store.Read(path) is not { } image)
            return null;
        return new StoredImage(Path.GetFullPath(path), Path.GetFileNameWithoutExtension(path), image.Width, image.Height);
    }

    /// <summary>The picture scaled down to at most <see cref="ThumbnailSide"/> pixels a side, as a PNG data URL for an <c>img</c>.</summary>
    public string? ThumbnailDataUrl(StoredImage picture)
    {
        if (store.Read(picture.Path) is not { } image)
            return null;
        double scale = Math.Min(1.0, (double)ThumbnailSide / Math.Max(image.Width, image.Height));
        var small = LanczosResize.Resize(image, Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale)));
        return DataUrl(PngEncoder.Encode(small));
    }

    /// <summary>
    /// The Canny edge map a ControlNet generation of <paramref name="width"/> × <paramref name="height"/> would be guided by,
    /// as a PNG data URL: exactly what the engine gives the ControlNet. The error says why there is none (a size out of range,
    /// a picture that is gone).
    /// </summary>
    public (string? DataUrl, string? Error) ControlNetCannyPreview(StoredImage picture, int width, int height)
    {
        if (store.Read(picture.Path) is not { } image)
            return (null, "The reference picture is no longer kept; upload it again.");
        try
        {
            return (DataUrl(ControlNetPreview.EdgesPng(image, width, height)), null);
        }
        catch (ArgumentException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Field → message for request pictures that are not kept here: the web names pictures only by uploading them.</summary>
    public Dictionary<string, string> Check(App.Generation.GenerationRequest request)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, path, what) in new[]
                 {
                     (nameof(request.ControlNetImagePath), request.ControlNetImagePath, "ControlNet reference picture"),
                     (nameof(request.InitImagePath), request.InitImagePath, "start picture"),
                 })
        {
            if (path is not null && !store.Contains(path))
                errors[field] = $"The {what} must be uploaded to the studio; upload it again.";
        }
        return errors;
    }

    private static string DataUrl(byte[] png) => "data:image/png;base64," + Convert.ToBase64String(png);
}
