using System.Globalization;
using System.Text.Json;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Loras;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Outputs;

/// <summary>
/// Writes generated images as <c>{yyyyMMdd_HHmmss}_{seed}.png</c> under the output root (with <c>-2</c>,
/// <c>-3</c>… when two land in the same second), with the A1111 <c>parameters</c> text chunk always and the
/// mflux-style JSON sidecar when metadata export is on, and records them in history.
/// <para>
/// Order, so a crash at any point is repaired by <see cref="HistoryStore.ReconcileAsync"/>: the history row
/// is added as "saving"; the sidecar, then the PNG are each written to a temporary file and renamed into
/// place; the row becomes "saved". A PNG on disk therefore always means every file of the save is complete.
/// </para>
/// </summary>
public sealed class OutputStore
{
    private const int MaxNameAttempts = 1000;

    private readonly HistoryStore _history;
    private readonly LoraCatalog _loras;
    private readonly TimeProvider _time;
    private readonly StudioOptions _options;
    private readonly ILogger<OutputStore> _logger;

    public OutputStore(HistoryStore history, LoraCatalog loras, IOptions<StudioOptions> options, TimeProvider? time = null,
        ILogger<OutputStore>? logger = null)
    {
        _history = history;
        _loras = loras;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<OutputStore>.Instance;
    }

    public string OutputRoot => _history.OutputRoot;

    /// <summary>
    /// Saves the image of <paramref name="request"/> (the request as run: seed chosen, keywords applied) and
    /// returns its history entry. On failure nothing of the save is left behind.
    /// </summary>
    public async Task<HistoryEntry> SaveAsync(GenerationRequest request, GeneratedImage image, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(image);
        var png = image.Png ?? (image.Pixels is { } pixels
            ? PngEncoder.Encode(pixels)
            : throw new ArgumentException("The generated image has neither pixels nor PNG bytes.", nameof(image)));
        var (width, height) = PngText.ReadSize(png);

        var loraNames = request.Loras.Select(l => l.Name).ToList();
        png = PngText.Insert(png, Infotext.ChunkKeyword, Infotext.Format(request, image, width, height, loraNames));

        var now = _time.GetLocalNow();
        var writeMetadata = request.Metadata || _options.AlwaysExportMetadata;
        var template = new HistoryEntry
        {
            Timestamp = now,
            Seed = image.Seed,
            Prompt = image.Prompt,
            ModelAlias = request.Model.ToAlias(),
            Quantize = request.Quantize,
            Steps = request.EffectiveSteps,
            Guidance = request.EffectiveGuidance,
            Width = width,
            Height = height,
            ModelPath = request.ModelPath,
            ControlNetImagePath = request.ControlNetImagePath,
            ControlNetStrength = request.UsesControlNet ? request.ControlNetStrength : null,
            ControlNetSaveCanny = request.UsesControlNet && request.ControlNetSaveCanny,
            LoraPaths = loraNames.Select(name => LoraCatalog.IsPlainFileName(name) ? _loras.GetFullPath(name) : name).ToList(),
            LoraScales = request.Loras.Select(l => l.Scale).ToList(),
            ImagePath = "",
            GenerationTimeSeconds = image.GenerationTime.TotalSeconds,
            Device = image.Device,
            Precision = image.Precision,
        };

        Directory.CreateDirectory(OutputRoot);
        var (id, entry) = await ReserveAsync(template, now, writeMetadata, ct);
        _history.CrashPoints.Reach("save:row-added");

        var created = new List<string>();
        try
        {
            if (entry.MetadataPath is { } metadataPath)
            {
                var json = JsonSerializer.SerializeToUtf8Bytes(ToMetadata(entry), ImageMetadata.SerializerOptions);
                await WriteAtomicAsync(metadataPath, json, "save:metadata", created, ct);
            }
            await WriteAtomicAsync(entry.ImagePath, png, "save:image", created, ct);
            // The PNG is complete from here; the save survives even if the status update never happens.
            if (!await _history.CompleteSaveAsync(id, CancellationToken.None))
                throw new IOException(
                    "Another FluxStudio process started up and repaired the history while this image was being saved. Generate it again.");
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

    public static ImageMetadata ToMetadata(HistoryEntry entry) => new()
    {
        Model = entry.ModelAlias,
        Seed = entry.Seed,
        Steps = entry.Steps,
        Guidance = entry.Guidance,
        Precision = entry.Precision ?? "",
        Quantize = entry.Quantize,
        GenerationTimeSeconds = entry.GenerationTimeSeconds ?? 0,
        LoraPaths = entry.LoraPaths,
        LoraScales = entry.LoraScales,
        ControlNetImagePath = entry.ControlNetImagePath,
        ControlNetStrength = entry.ControlNetStrength,
        Prompt = entry.Prompt,
        Width = entry.Width,
        Height = entry.Height,
    };

    /// <summary>
    /// Claims a file name: the unique index on the history row makes the claim atomic across threads and
    /// processes, and names whose files exist (say, copied in by hand) are skipped rather than overwritten.
    /// </summary>
    private async Task<(long Id, HistoryEntry Entry)> ReserveAsync(HistoryEntry template, DateTimeOffset now, bool writeMetadata,
        CancellationToken ct)
    {
        var stem = $"{now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture)}_{template.Seed.ToString(CultureInfo.InvariantCulture)}";
        for (var attempt = 1; attempt <= MaxNameAttempts; attempt++)
        {
            var name = attempt == 1 ? stem : $"{stem}-{attempt.ToString(CultureInfo.InvariantCulture)}";
            var imagePath = Path.Combine(OutputRoot, name + ".png");
            var metadataPath = writeMetadata ? Path.Combine(OutputRoot, name + ".json") : null;
            if (File.Exists(imagePath) || (metadataPath is not null && File.Exists(metadataPath)))
                continue;
            var entry = template with { ImagePath = imagePath, MetadataPath = metadataPath };
            if (await _history.BeginSaveAsync(entry, ct) is { } id)
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
