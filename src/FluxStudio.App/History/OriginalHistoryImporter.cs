using System.Globalization;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Models;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.App.History;

/// <summary>
/// Imports the history of the original app (its <c>generated_images.db</c>, table <c>images</c>) so its users
/// keep their images. Relative paths are resolved against the folder of the database, which was the original app's
/// working folder. An image already inside the output folder stays where it is; a PNG inside the original app's
/// folder is copied into the output folder, since history serves and deletes files there only. Any other row (a
/// file elsewhere, reached by <c>..</c>, an absolute path or a symbolic link; a missing file; not a PNG) is skipped
/// and the report says why. Importing twice adds nothing the second time.
/// </summary>
public sealed class OriginalHistoryImporter(HistoryStore history, ILogger<OriginalHistoryImporter>? logger = null)
{
    public const string DefaultFileName = "generated_images.db";

    private const int MaxNameAttempts = 1000;

    private static readonly string[] RequiredColumns = ["seed", "prompt", "output_filename"];
    private readonly ILogger _logger = logger ?? NullLogger<OriginalHistoryImporter>.Instance;

    public async Task<ImportReport> ImportAsync(string databasePath, IProgress<int>? progress, CancellationToken ct)
    {
        var fullPath = Path.GetFullPath(databasePath);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"There is no file {fullPath}. Point the import at the original app's {DefaultFileName}.", fullPath);
        var baseFolder = Path.GetDirectoryName(fullPath)!;
        var originalFolder = new ConfinedFolder(baseFolder);

        var connectionString = new SqliteConnectionStringBuilder { DataSource = fullPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        await using var source = new SqliteConnection(connectionString);
        try
        {
            await source.OpenAsync(ct);
            var columns = await ReadColumnsAsync(source, ct);
            if (columns.Count == 0)
                throw new InvalidDataException($"{fullPath} has no \"images\" table, so it is not the original app's history database.");
            var missing = RequiredColumns.Where(c => !columns.Contains(c)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"The \"images\" table in {fullPath} lacks the column(s) {string.Join(", ", missing)}; it is not the original app's history.");

            await using var command = source.CreateCommand();
            command.CommandText = "SELECT * FROM images ORDER BY " + (columns.Contains("id") ? "id" : "rowid");
            await using var reader = await command.ExecuteReaderAsync(ct);
            int imported = 0, duplicates = 0, copied = 0, rowNumber = 0;
            var problems = new List<string>();
            var skipped = new List<string>();
            while (await reader.ReadAsync(ct))
            {
                rowNumber++;
                var row = Enumerable.Range(0, reader.FieldCount)
                    .ToDictionary(i => reader.GetName(i).ToLowerInvariant(), i => reader.IsDBNull(i) ? null : reader.GetValue(i));
                var label = row.TryGetValue("id", out var idValue) && idValue is not null ? $"Row id {idValue}" : $"Row {rowNumber}";
                progress?.Report(rowNumber);
                var output = Text(row, "output_filename");
                if (string.IsNullOrWhiteSpace(output))
                {
                    skipped.Add($"{label}: it has no output_filename.");
                    continue;
                }
                var imageFile = Path.GetFullPath(output.Trim(), baseFolder);
                if (CheckSource(imageFile, originalFolder) is { } refusal)
                {
                    skipped.Add($"{label}: {refusal}");
                    continue;
                }

                var entry = ToEntry(row, imageFile, problems, label);
                var (imagePath, isCopy) = history.Folder.Contains(imageFile) ? (imageFile, false) : await CopyInAsync(imageFile, ct);
                if (await history.BeginImportAsync(entry with { ImagePath = imagePath }, ct))
                {
                    imported++;
                    copied += isCopy ? 1 : 0;
                }
                else
                {
                    duplicates++;
                    // The name belongs to another row whose file was gone: the copy must not become that row's image.
                    if (isCopy)
                        File.Delete(imagePath);
                }
            }
            var report = new ImportReport(imported, duplicates, copied, skipped, problems);
            _logger.LogInformation("Imported original history from {Path}: {Report}", fullPath, report);
            return report;
        }
        catch (SqliteException ex)
        {
            throw new InvalidDataException($"{fullPath} could not be read as an SQLite database ({ex.Message}).", ex);
        }
    }

    private static async Task<HashSet<string>> ReadColumnsAsync(SqliteConnection source, CancellationToken ct)
    {
        await using var command = source.CreateCommand();
        command.CommandText = "SELECT name FROM pragma_table_info('images')";
        var columns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            columns.Add(reader.GetString(0));
        return columns;
    }

    /// <summary>Why the row's image cannot be imported, or null when it can.</summary>
    private string? CheckSource(string source, ConfinedFolder originalFolder)
    {
        if (!history.Folder.Contains(source) && !originalFolder.Contains(source))
            return $"its file {source} lies outside the original app's folder {originalFolder.Root} (and outside the output folder " +
                   $"{history.OutputRoot}); only images inside them are imported.";
        if (!File.Exists(source))
            return $"its image file {source} does not exist.";
        Span<byte> head = stackalloc byte[PngSignature.Length];
        using (var file = File.OpenRead(source))
        {
            if (file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length || !head.SequenceEqual(PngSignature))
                return $"its file {source} is not a PNG image.";
        }
        return null;
    }

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// Copies the image into the output folder under its own name (or <c>name-2.png</c>… when another file has that
    /// name); an identical file already there is used as it is, so a second import finds the row it made.
    /// </summary>
    private async Task<(string Path, bool Copied)> CopyInAsync(string source, CancellationToken ct)
    {
        Directory.CreateDirectory(history.OutputRoot);
        var stem = Path.GetFileNameWithoutExtension(source);
        var extension = Path.GetExtension(source);
        for (var attempt = 1; attempt <= MaxNameAttempts; attempt++)
        {
            var target = Path.Combine(history.OutputRoot, attempt == 1 ? stem + extension : $"{stem}-{attempt.ToString(CultureInfo.InvariantCulture)}{extension}");
            if (File.Exists(target))
            {
                if (await SameContentAsync(source, target, ct))
                    return (target, false);
                continue;
            }
            var temp = $"{target}.{Guid.NewGuid():N}{HistoryStore.TempSuffix}";
            try
            {
                File.Copy(source, temp);
                File.Move(temp, target, overwrite: false);
                return (target, true);
            }
            catch (IOException) when (File.Exists(target))
            {
                // Taken meanwhile; try the next name.
            }
            finally
            {
                File.Delete(temp);
            }
        }
        throw new IOException($"No free file name for {Path.GetFileName(source)} in {history.OutputRoot} after {MaxNameAttempts} attempts.");
    }

    private static async Task<bool> SameContentAsync(string a, string b, CancellationToken ct)
    {
        if (new FileInfo(a).Length != new FileInfo(b).Length)
            return false;
        var first = await File.ReadAllBytesAsync(a, ct);
        var second = await File.ReadAllBytesAsync(b, ct);
        return first.AsSpan().SequenceEqual(second);
    }

    private static HistoryEntry ToEntry(Dictionary<string, object?> row, string imagePath, List<string> problems, string label)
    {
        var loraPaths = ParseList(Text(row, "lora_paths"));
        var scaleTexts = ParseList(Text(row, "lora_scales"));
        var scales = new List<double>();
        foreach (var text in scaleTexts)
            scales.Add(double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var scale) ? scale : 1.0);
        if (scales.Count != loraPaths.Count)
        {
            problems.Add($"{label}: {loraPaths.Count} LoRA path(s) but {scales.Count} scale(s); missing scales were set to 1.");
            while (scales.Count < loraPaths.Count)
                scales.Add(1.0);
            scales = scales.Take(loraPaths.Count).ToList();
        }

        var alias = Text(row, "model_alias");
        var model = FluxVariants.TryParse(alias, out var parsedModel) ? parsedModel : FluxVariant.Schnell;
        var steps = Integer(row, "steps") is { } s and > 0 ? (int)s : model.DefaultSteps();

        return new HistoryEntry
        {
            Timestamp = ParseTimestamp(Text(row, "timestamp"), imagePath),
            Seed = Integer(row, "seed") ?? 0,
            Prompt = Text(row, "prompt") ?? "",
            ModelAlias = string.IsNullOrWhiteSpace(alias) ? model.Alias() : alias.Trim(),
            Quantize = Integer(row, "quantize") is { } q and (4 or 8) ? (int)q : null,
            Steps = steps,
            Guidance = Real(row, "guidance"),
            Height = (int)(Integer(row, "height") ?? GenerationRequest.DefaultSize),
            Width = (int)(Integer(row, "width") ?? GenerationRequest.DefaultSize),
            ModelPath = Blank(Text(row, "path")),
            ControlNetImagePath = Blank(Text(row, "controlnet_image_path")),
            ControlNetStrength = Real(row, "controlnet_strength"),
            ControlNetSaveCanny = (Integer(row, "controlnet_save_canny") ?? 0) != 0
                                  || string.Equals(Text(row, "controlnet_save_canny"), "true", StringComparison.OrdinalIgnoreCase),
            LoraPaths = loraPaths,
            LoraScales = scales,
            ImagePath = imagePath,
            Source = HistorySources.OriginalApp,
        };
    }

    /// <summary>
    /// The original app stored lists either comma-joined (<c>a.safetensors,b.safetensors</c>) or as Python's
    /// <c>str(list)</c> (<c>['a.safetensors', 'b.safetensors']</c>); both, and empty forms, are accepted.
    /// </summary>
    internal static List<string> ParseList(string? text)
    {
        var trimmed = text?.Trim() ?? "";
        if (trimmed is "" or "None" or "null")
            return [];
        if (trimmed.StartsWith('[') && trimmed.EndsWith(']'))
            trimmed = trimmed[1..^1];
        return trimmed.Split(',')
            .Select(part => part.Trim().Trim('\'', '"').Trim())
            .Where(part => part.Length > 0 && part != "None")
            .ToList();
    }

    private static readonly string[] TimestampFormats =
    [
        "yyyyMMdd_HHmmss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss",
    ];

    /// <summary>The original app wrote local times in a few formats; failing those, the file name or the file's date is used.</summary>
    internal static DateTimeOffset ParseTimestamp(string? text, string imagePath)
    {
        var candidate = text?.Trim();
        if (!string.IsNullOrEmpty(candidate))
        {
            if (DateTime.TryParseExact(candidate, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var local))
                return new DateTimeOffset(local);
            if (DateTimeOffset.TryParse(candidate, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var any))
                return any;
        }
        var name = Path.GetFileNameWithoutExtension(imagePath);
        if (name.Length >= 15 && DateTime.TryParseExact(name[..15], "yyyyMMdd_HHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var fromName))
            return new DateTimeOffset(fromName);
        return File.Exists(imagePath) ? new DateTimeOffset(File.GetLastWriteTime(imagePath)) : DateTimeOffset.UnixEpoch;
    }

    private static string? Text(Dictionary<string, object?> row, string column) =>
        row.TryGetValue(column, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) || text.Trim() == "None" ? null : text.Trim();

    private static long? Integer(Dictionary<string, object?> row, string column) => Text(row, column) is { } text
        && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
        && !double.IsNaN(number) && Math.Abs(number) < 9.2e18
            ? (long)number
            : null;

    private static double? Real(Dictionary<string, object?> row, string column) => Text(row, column) is { } text
        && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
            ? number
            : null;
}

/// <summary>
/// What an import did: rows added (<paramref name="Copied"/> of them with their image copied into the output folder),
/// rows already in history, rows skipped with the reason for each, and notes on rows imported with a repair.
/// </summary>
public sealed record ImportReport(int Imported, int AlreadyPresent, int Copied, IReadOnlyList<string> Skipped, IReadOnlyList<string> Problems);
