using System.Security.Cryptography;
using FluxStudio.App.History;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Inputs;

/// <summary>A picture kept for a generation: where it is, its SHA-256 (hex) and its size in pixels.</summary>
public sealed record StoredImage(string Path, string Hash, int Width, int Height);

/// <summary>
/// The pictures the web studio and the REST API are handed for generations (ControlNet references, image-to-image
/// starts), kept until the jobs that use them have run: in <see cref="StudioOptions.ResolveUploadFolder"/>, each named by
/// its SHA-256 (the same picture twice is kept once), never by a name a client chose. Requests from the web may name
/// only pictures in here (<see cref="Contains"/>); what is older than <see cref="StudioOptions.UploadRetention"/> and not
/// used by a waiting job is removed at start-up (<see cref="Purge"/>).
/// </summary>
public sealed class InputImageStore
{
    private static readonly IReadOnlyDictionary<string, string> Extensions = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["image/png"] = ".png",
        ["image/jpeg"] = ".jpg",
        ["image/webp"] = ".webp",
    };

    private readonly ConfinedFolder _folder;
    private readonly TimeProvider _time;
    private readonly ILogger<InputImageStore> _logger;

    public InputImageStore(IOptions<StudioOptions> options, TimeProvider? time = null, ILogger<InputImageStore>? logger = null)
    {
        _folder = new ConfinedFolder(options.Value.ResolveUploadFolder());
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<InputImageStore>.Instance;
    }

    public string Folder => _folder.Root;

    /// <summary>
    /// Keeps a picture whose type the caller has checked by its content (<paramref name="mediaType"/>: image/png,
    /// image/jpeg or image/webp), after decoding it, so a file that only looks like a picture is refused now.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a picture that can be decoded, or of another type; the message says what to send.</exception>
    public async Task<StoredImage> SaveAsync(byte[] bytes, string mediaType, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (!Extensions.TryGetValue(mediaType, out var extension))
            throw new InvalidDataException($"Pictures of type {mediaType} are not accepted; send a PNG, JPEG or WebP image.");
        RgbImage image;
        try
        {
            image = RgbImageFile.Decode(bytes);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The picture could not be read. {e.Message}", e);
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var path = Path.Combine(Folder, hash + extension);
        Directory.CreateDirectory(Folder);
        if (File.Exists(path))
            File.SetLastWriteTimeUtc(path, _time.GetUtcNow().UtcDateTime);
        else
            await Outputs.AtomicFile.WriteAsync(path, bytes, overwrite: true, ct);
        return new StoredImage(path, hash, image.Width, image.Height);
    }

    /// <summary>
    /// Keeps a copy of a picture another machine kept (a queued job's, carried by the database), by the type its name
    /// gives; checked as an upload is.
    /// </summary>
    /// <exception cref="InvalidDataException">The name has no picture type, or the bytes are not such a picture.</exception>
    public Task<StoredImage> SaveCopyAsync(byte[] bytes, string originalPath, CancellationToken ct)
    {
        var extension = Path.GetExtension(originalPath);
        var mediaType = Extensions.FirstOrDefault(e => string.Equals(e.Value, extension, StringComparison.OrdinalIgnoreCase)).Key
                        ?? throw new InvalidDataException($"{originalPath} is not named as a PNG, JPEG or WebP picture.");
        return SaveAsync(bytes, mediaType, ct);
    }

    /// <summary>A copy of a PNG the studio made (a history entry's image), to start a new generation from.</summary>
    public async Task<StoredImage> SavePngAsync(Stream png, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await png.CopyToAsync(buffer, ct);
        return await SaveAsync(buffer.ToArray(), "image/png", ct);
    }

    /// <summary>Whether <paramref name="path"/> is a picture kept here (links followed; names leading elsewhere do not count).</summary>
    public bool Contains(string path) => _folder.Resolve(path) is { } real && File.Exists(real);

    /// <summary>Reads a picture kept here; null when <paramref name="path"/> is not one.</summary>
    public RgbImage? Read(string path) => _folder.Resolve(path) is { } real && File.Exists(real) ? RgbImageFile.Read(real) : null;

    /// <summary>
    /// Removes the pictures last stored or reused more than <paramref name="olderThan"/> ago, except those in
    /// <paramref name="keep"/> (pictures that waiting jobs use). Returns how many were removed.
    /// </summary>
    public int Purge(TimeSpan olderThan, IEnumerable<string?> keep)
    {
        if (!Directory.Exists(Folder))
            return 0;
        var kept = keep.OfType<string>().Select(path => Path.GetFullPath(path)).ToHashSet();
        var cutoff = _time.GetUtcNow().UtcDateTime - olderThan;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(Folder))
        {
            if (kept.Contains(file) || File.GetLastWriteTimeUtc(file) >= cutoff || !_folder.TryDelete(file))
                continue;
            removed++;
        }
        if (removed > 0)
            _logger.LogInformation("Removed {Count} uploaded pictures older than {Age} from {Folder}", removed, olderThan, Folder);
        return removed;
    }
}
