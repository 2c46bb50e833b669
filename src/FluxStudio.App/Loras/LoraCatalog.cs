using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FluxStudio.App.Outputs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Loras;

/// <summary>
/// The LoRAs of the LoRA folder: those described by its <c>lora_info.json</c>
/// (<c>[{file_name, description, activation_keyword}]</c>), then every other <c>.safetensors</c> file in it. The file is
/// re-read whenever its size or modification time changes, so edits show up without a restart. A broken file keeps the
/// last good list and reports the problem. <see cref="SaveEntryAsync"/> writes an entry into the file.
/// </summary>
public sealed class LoraCatalog
{
    public const string InfoFileName = "lora_info.json";

    /// <summary>The extension of the LoRA files the folder is searched for.</summary>
    public const string FileExtension = ".safetensors";

    private readonly string _folder;
    private readonly ILogger<LoraCatalog> _logger;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _saveGate = new(1, 1);
    private IReadOnlyList<RawEntry> _lastGood = [];
    private (long Length, DateTime WriteTime)? _loadedStamp;
    private string? _error;
    private IReadOnlyList<string> _warnings = [];

    public LoraCatalog(IOptions<StudioOptions> options, ILogger<LoraCatalog>? logger = null)
    {
        _folder = options.Value.ResolveLoraFolder();
        _logger = logger ?? NullLogger<LoraCatalog>.Instance;
    }

    public string Folder => _folder;

    public string InfoFilePath => Path.Combine(_folder, InfoFileName);

    /// <summary>A file name with no directory part, so a request cannot reach outside the LoRA folder.</summary>
    public static bool IsPlainFileName(string name) =>
        !string.IsNullOrWhiteSpace(name) && name == Path.GetFileName(name) && name is not ("." or "..")
        && name.IndexOfAny(['/', '\\', '\0']) < 0;

    public string GetFullPath(string fileName) =>
        IsPlainFileName(fileName)
            ? Path.Combine(_folder, fileName)
            : throw new ArgumentException($"\"{fileName}\" is not a plain LoRA file name.", nameof(fileName));

    /// <summary>The current catalog, re-reading <c>lora_info.json</c> if it changed since the last call.</summary>
    public LoraCatalogSnapshot GetSnapshot()
    {
        lock (_gate)
        {
            RefreshIfChanged();
            // The folder is looked at on every call: copying a LoRA into it does not touch the JSON.
            var entries = _lastGood
                .Select(e =>
                {
                    var fullPath = Path.Combine(_folder, e.FileName);
                    return new LoraEntry(e.FileName, e.Description ?? "", e.ActivationKeyword ?? "", fullPath, !File.Exists(fullPath));
                })
                .ToList();
            var listed = entries.Select(e => e.FileName).ToHashSet(StringComparer.Ordinal);
            entries.AddRange(FilesInFolder()
                .Where(name => !listed.Contains(name))
                .Select(name => new LoraEntry(name, "", "", Path.Combine(_folder, name), FileMissing: false, InCatalog: false)));
            return new LoraCatalogSnapshot(_folder, entries, _error, _warnings);
        }
    }

    /// <summary>
    /// Sets the description and activation keyword of <paramref name="fileName"/> in <c>lora_info.json</c>, adding the entry
    /// when the file does not list it yet (and creating the file when there is none). The other entries, and any other
    /// fields they hold, are kept as they are; the file is replaced whole, never left half written.
    /// </summary>
    /// <exception cref="LoraCatalogException">The name is not a plain file name, or the file on disk is broken.</exception>
    public async Task<LoraCatalogSnapshot> SaveEntryAsync(string fileName, string description, string activationKeyword,
        CancellationToken ct)
    {
        if (!IsPlainFileName(fileName))
            throw new LoraCatalogException($"\"{fileName}\" is not a plain file name in the LoRA folder; pick a LoRA from the list.");
        await _saveGate.WaitAsync(ct);
        try
        {
            var entries = ReadForEdit();
            var entry = entries.OfType<JsonObject>().FirstOrDefault(e =>
                e["file_name"] is JsonValue name && name.TryGetValue<string>(out var text) && text == fileName);
            if (entry is null)
            {
                entry = new JsonObject { ["file_name"] = fileName };
                entries.Add(entry);
            }
            entry["description"] = description.Trim();
            entry["activation_keyword"] = activationKeyword.Trim();

            Directory.CreateDirectory(_folder);
            var json = Encoding.UTF8.GetBytes(entries.ToJsonString(WriteOptions) + Environment.NewLine);
            await AtomicFile.WriteAsync(InfoFilePath, json, overwrite: true, ct);
            _logger.LogInformation("Saved the LoRA entry of {File} in {Path}", fileName, InfoFilePath);
            return GetSnapshot();
        }
        finally
        {
            _saveGate.Release();
        }
    }

    /// <summary>The file's entries as JSON, for an edit that keeps what this class does not read.</summary>
    private JsonArray ReadForEdit()
    {
        lock (_gate)
        {
            RefreshIfChanged();
            if (_error is not null)
                throw new LoraCatalogException(
                    $"{InfoFileName} cannot be edited here while it has an error, so that nothing in it is lost: {_error}");
        }
        if (!File.Exists(InfoFilePath))
            return [];
        try
        {
            return JsonNode.Parse(File.ReadAllBytes(InfoFilePath), documentOptions: new JsonDocumentOptions
            {
                AllowTrailingCommas = true,
                CommentHandling = JsonCommentHandling.Skip,
            }) as JsonArray ?? throw new LoraCatalogException($"{InfoFileName} does not hold a list; fix the file, then try again.");
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new LoraCatalogException($"{InfoFileName} could not be read ({ex.Message}); fix the file, then try again.");
        }
    }

    private IEnumerable<string> FilesInFolder()
    {
        try
        {
            return Directory.Exists(_folder)
                ? Directory.EnumerateFiles(_folder, "*" + FileExtension).Select(Path.GetFileName).OfType<string>()
                    .Where(name => name.EndsWith(FileExtension, StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.OrdinalIgnoreCase).ToList()
                : [];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(ex, "The LoRA folder {Folder} could not be listed", _folder);
            return [];
        }
    }

    private void RefreshIfChanged()
    {
        var info = new FileInfo(InfoFilePath);
        if (!info.Exists)
        {
            // No file means no catalog (the original app's state before anyone adds LoRAs), not an error.
            (_lastGood, _loadedStamp, _warnings, _error) = ([], null, [], null);
            return;
        }

        var stamp = (info.Length, info.LastWriteTimeUtc);
        if (_loadedStamp == stamp)
            return;
        _loadedStamp = stamp;

        try
        {
            var bytes = File.ReadAllBytes(info.FullName);
            var parsed = Parse(bytes, out var warnings);
            _lastGood = parsed;
            _warnings = warnings;
            _error = null;
            _logger.LogInformation("Loaded {Count} LoRA entries from {Path}", parsed.Count, info.FullName);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or FormatException)
        {
            _error = ex switch
            {
                JsonException json => $"{InfoFileName} is not a valid LoRA list{Where(json)}: {FirstLine(json.Message)} " +
                                      "It must look like [{\"file_name\": \"x.safetensors\", \"description\": \"...\", \"activation_keyword\": \"...\"}]. " +
                                      "Fix the file; the previous LoRA list stays in use until then.",
                FormatException format => $"{InfoFileName}: {format.Message} The previous LoRA list stays in use until then.",
                _ => $"{InfoFileName} could not be read ({ex.Message}). The previous LoRA list stays in use.",
            };
            _logger.LogWarning("LoRA catalog {Path} not reloaded: {Error}", info.FullName, _error);
        }
    }

    private static List<RawEntry> Parse(byte[] json, out IReadOnlyList<string> warnings)
    {
        var items = JsonSerializer.Deserialize<List<RawEntry?>>(json, SerializerOptions)
                    ?? throw new FormatException("The file holds null instead of a list of LoRA entries.");
        var problems = new List<string>();
        var result = new List<RawEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item is null || string.IsNullOrWhiteSpace(item.FileName))
            {
                problems.Add($"Entry {i + 1} has no file_name and was skipped.");
                continue;
            }
            if (!IsPlainFileName(item.FileName))
            {
                problems.Add($"Entry {i + 1}: \"{item.FileName}\" is not a plain file name inside the LoRA folder and was skipped.");
                continue;
            }
            if (!seen.Add(item.FileName))
            {
                problems.Add($"Entry {i + 1}: \"{item.FileName}\" is listed twice; the first entry is used.");
                continue;
            }
            result.Add(item with { Description = item.Description ?? "", ActivationKeyword = item.ActivationKeyword ?? "" });
        }
        warnings = problems;
        return result;
    }

    private static string Where(JsonException ex) =>
        ex.LineNumber is { } line ? $" (line {line + 1}, position {(ex.BytePositionInLine ?? 0) + 1})" : "";

    private static string FirstLine(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        // Descriptions are for people: keep their accents and quotes readable in the file.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions SerializerOptions = new()
    {
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        PropertyNameCaseInsensitive = true,
    };

    private sealed record RawEntry
    {
        [JsonPropertyName("file_name")] public string FileName { get; init; } = "";
        [JsonPropertyName("description")] public string? Description { get; init; }
        [JsonPropertyName("activation_keyword")] public string? ActivationKeyword { get; init; }
    }
}
