using System.Globalization;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Outputs;

/// <summary>
/// Writes generated images as <c>{yyyyMMdd_HHmmss}_{seed}.png</c> under the output root (with <c>-2</c>,
/// <c>-3</c>… when two land in the same second), with the A1111 <c>parameters</c> text chunk always, the
/// mflux-style JSON sidecar when metadata export is on and the ControlNet's edge map
/// (<c>…_controlnet_canny.png</c>, mflux's name) when one guided the image, and records them in history.
/// <para>
/// Order, so a crash at any point is repaired by <see cref="HistoryStore.ReconcileAsync"/>: the history row
/// is added as "saving"; the sidecar and the edge map, then the PNG are each written to a temporary file and renamed into
/// place; the row becomes "saved". A PNG on disk therefore always means every file of the save is complete.
/// A save for a queued job becomes "saved" only together with its job becoming done (<see cref="SaveClaim"/>).
/// </para>
/// </summary>
public sealed class OutputStore
{
    private const int MaxNameAttempts = 1000;

    private readonly HistoryStore _history;
    private readonly TimeProvider _time;
    private readonly StudioOptions _options;
    private readonly ILogger<OutputStore> _logger;

    public OutputStore(HistoryStore history, IOptions<StudioOptions> options, TimeProvider? time = null,
        ILogger<OutputStore>? logger = null)
    {
        _history = history;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<OutputStore>.Instance;
    }

    public string OutputRoot => _history.OutputRoot;

    /// <summary>What mflux appends to an image's name for the ControlNet's edge map written beside it.</summary>
    public const string ControlNetCannySuffix = "_controlnet_canny";

    /// <summary>The image as a PNG carrying its record in the A1111 <c>parameters</c> text chunk.</summary>
    public static byte[] EncodePng(HistoryEntry record, RgbImage image) =>
        PngText.Insert(PngEncoder.Encode(image), Infotext.ChunkKeyword, Infotext.Format(record));

    /// <summary>The files of a run: the PNG with its record, and the ControlNet's edge map when one guided the image.</summary>
    public static ImageFiles Encode(HistoryEntry record, FluxGenerationResult run) =>
        new(EncodePng(record, run.Image), run.ControlNet is { } controlNet ? PngEncoder.Encode(controlNet.EdgeMap) : null);

    /// <summary>Where the edge map of the image at <paramref name="imagePath"/> goes: beside it, named as mflux names it.</summary>
    public static string ControlNetCannyPath(string imagePath) =>
        Path.Combine(Path.GetDirectoryName(imagePath) ?? "", Path.GetFileNameWithoutExtension(imagePath) + ControlNetCannySuffix + ".png");

    /// <summary>
    /// Saves an image under the output root and records it in history, with the JSON sidecar when
    /// <paramref name="metadata"/> (or <see cref="StudioOptions.AlwaysExportMetadata"/>) says so and the edge map when
    /// <paramref name="files"/> has one, and returns the saved entry. <paramref name="record"/> describes the run
    /// (<see cref="GenerationRecord.Describe"/>) and <paramref name="files"/> are its <see cref="Encode"/>. On failure
    /// nothing of the save is left behind.
    /// </summary>
    /// <param name="claim">For a queued job's run: the save counts only if the run still holds its job when the files are complete.</param>
    /// <exception cref="ClaimLostException">The run no longer held its job; nothing of the save is left.</exception>
    public async Task<HistoryEntry> SaveAsync(HistoryEntry record, ImageFiles files, bool metadata, CancellationToken ct, SaveClaim? claim = null)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(files);
        var now = _time.GetLocalNow();
        var template = record with
        {
            Timestamp = now, ImagePath = "", MetadataPath = null, ControlNetCannyPath = null, Source = HistorySources.FluxStudio,
        };

        Directory.CreateDirectory(OutputRoot);
        var (id, entry) = await ReserveAsync(template, now, metadata || _options.AlwaysExportMetadata, files.ControlNetCannyPng is not null,
            claim?.Token, ct);
        _history.CrashPoints.Reach("save:row-added");

        var created = new List<string>();
        try
        {
            if (entry.MetadataPath is { } metadataPath)
                await WriteAtomicAsync(metadataPath, ImageMetadata.Serialize(entry), "save:metadata", created, ct);
            if (entry.ControlNetCannyPath is { } cannyPath)
                await WriteAtomicAsync(cannyPath, files.ControlNetCannyPng!, "save:canny", created, ct);
            await WriteAtomicAsync(entry.ImagePath, files.Png, "save:image", created, ct);
            // The PNG is complete from here. A save no job owns survives even if the status update never happens; a job's
            // save counts only with its job (a repair removes it otherwise).
            if (!await _history.CompleteSaveAsync(id, claim, CancellationToken.None))
                throw claim is null
                    ? new IOException("Another FluxStudio process started up and repaired the history while this image was being saved. Generate it again.")
                    : new ClaimLostException();
        }
        catch (Exception ex) when (ex is not SimulatedCrashException)
        {
            _logger.LogError(ex, "Saving {Path} failed; removing what was written", entry.ImagePath);
            foreach (var path in created)
                File.Delete(path);
            await _history.AbandonSaveAsync(id, CancellationToken.None);
            throw;
        }
        return entry with { Id = id, Status = HistoryStatus.Saved };
    }

    /// <summary>
    /// Writes a copy of an image where the user asked for it (the CLI's <c>--output</c>), replacing what is there, with
    /// the JSON sidecar beside it (same name, <c>.json</c>) when <paramref name="metadata"/> is on and the edge map
    /// (<see cref="ControlNetCannyPath"/>) when <paramref name="saveCanny"/> is. The copy is the user's: history neither
    /// lists nor deletes it. Returns the edge map's path when one was written.
    /// </summary>
    public static async Task<string?> ExportAsync(HistoryEntry record, ImageFiles files, string path, bool metadata, bool saveCanny,
        CancellationToken ct)
    {
        await AtomicFile.WriteAsync(path, files.Png, overwrite: true, ct);
        if (metadata)
            await AtomicFile.WriteAsync(Path.ChangeExtension(path, ".json"), ImageMetadata.Serialize(record), overwrite: true, ct);
        if (!saveCanny || files.ControlNetCannyPng is not { } canny)
            return null;
        var cannyPath = ControlNetCannyPath(path);
        await AtomicFile.WriteAsync(cannyPath, canny, overwrite: true, ct);
        return cannyPath;
    }

    /// <summary>
    /// Claims a file name: the unique index on the history row makes the claim atomic across threads and
    /// processes, and names whose files exist (say, copied in by hand) are skipped rather than overwritten.
    /// </summary>
    private async Task<(long Id, HistoryEntry Entry)> ReserveAsync(HistoryEntry template, DateTimeOffset now, bool writeMetadata,
        bool writeCanny, string? claim, CancellationToken ct)
    {
        var stem = $"{now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture)}_{template.Seed.ToString(CultureInfo.InvariantCulture)}";
        for (var attempt = 1; attempt <= MaxNameAttempts; attempt++)
        {
            var name = attempt == 1 ? stem : $"{stem}-{attempt.ToString(CultureInfo.InvariantCulture)}";
            var imagePath = Path.Combine(OutputRoot, name + ".png");
            var metadataPath = writeMetadata ? Path.Combine(OutputRoot, name + ".json") : null;
            var cannyPath = writeCanny ? ControlNetCannyPath(imagePath) : null;
            if (new[] { imagePath, metadataPath, cannyPath }.OfType<string>().Any(File.Exists))
                continue;
            var entry = template with { ImagePath = imagePath, MetadataPath = metadataPath, ControlNetCannyPath = cannyPath };
            if (await _history.BeginSaveAsync(entry, claim, ct) is { } id)
                return (id, entry with { Id = id });
        }
        throw new IOException($"No free file name for {stem}.png in {OutputRoot} after {MaxNameAttempts} attempts.");
    }

    private async Task WriteAtomicAsync(string path, byte[] bytes, string crashPoint, List<string> created, CancellationToken ct)
    {
        var temp = $"{path}.{Guid.NewGuid():N}{HistoryStore.TempSuffix}";
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await stream.WriteAsync(bytes, ct);
                // Flush to disk before the rename, or a power cut can leave a renamed but empty file.
                stream.Flush(flushToDisk: true);
            }
            _history.CrashPoints.Reach(crashPoint + "-temp-written");
            File.Move(temp, path, overwrite: false);
            created.Add(path);
            _history.CrashPoints.Reach(crashPoint + "-written");
        }
        catch (Exception ex) when (ex is not SimulatedCrashException)
        {
            File.Delete(temp);
            throw;
        }
    }
}

/// <summary>The encoded files of one generated image: the PNG with its record, and the ControlNet's edge map if one guided it.</summary>
public sealed record ImageFiles(byte[] Png, byte[]? ControlNetCannyPng = null);
