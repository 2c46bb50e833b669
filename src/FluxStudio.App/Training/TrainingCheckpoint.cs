using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Training;

namespace FluxStudio.App.Training;

/// <summary>
/// A checkpoint in the original app's zip layout: <c>{iteration}_adapter.safetensors</c>, <c>{iteration}_optimizer.safetensors</c>,
/// <c>{iteration}_iterator.json</c>, <c>{iteration}_loss.json</c>, <c>{iteration}_config.json</c> and <c>checkpoint.json</c>, which
/// names the other five and is read first. <see cref="Open"/> reads one written here or by the original app (its
/// adapter and optimizer files unpacked to a temporary folder for as long as the checkpoint is open);
/// <see cref="Write"/> writes one whole or not at all.
/// </summary>
public sealed class TrainingCheckpoint : IDisposable
{
    public const string ManifestName = "checkpoint.json";

    /// <summary>More than this unpacked is not a LoRA checkpoint (FLUX.1's largest LoRAs take a few hundred megabytes).</summary>
    private const long MaxUnpackedBytes = 4L << 30;

    private const string TimeFormat = "yyyy-MM-dd HH:mm:ss";

    private static readonly string[] Roles = ["config", "optimizer", "lora_adapter", "iterator", "loss"];

    private readonly DirectoryInfo _unpacked;

    private TrainingCheckpoint(string path, DirectoryInfo unpacked, string configJson, string iteratorJson, IReadOnlyList<LossPoint> losses,
        string adapterPath, string optimizerPath)
    {
        (Path, _unpacked, ConfigJson, IteratorJson, Losses, AdapterPath, OptimizerPath) =
            (path, unpacked, configJson, iteratorJson, losses, adapterPath, optimizerPath);
        Iteration = JsonNode.Parse(iteratorJson)?["num_iterations"]?.GetValue<int>()
                    ?? throw new FormatException($"{path}: its iterator state has no num_iterations.");
    }

    public string Path { get; }

    /// <summary>The steps made when it was written.</summary>
    public int Iteration { get; }

    /// <summary>The configuration the run was started with (its examples path made absolute by whoever wrote it).</summary>
    public string ConfigJson { get; }

    public string IteratorJson { get; }

    public IReadOnlyList<LossPoint> Losses { get; }

    public string AdapterPath { get; }

    public string OptimizerPath { get; }

    public TrainingResumePoint ResumePoint => new(AdapterPath, OptimizerPath, IteratorJson);

    /// <exception cref="FormatException">The file is not such a zip, or a file it names is missing or unreadable; the message says which.</exception>
    public static TrainingCheckpoint Open(string zipPath)
    {
        var path = System.IO.Path.GetFullPath(zipPath);
        using var archive = OpenZip(path);
        var (entries, files) = ReadManifest(archive, path);
        var unpacked = Directory.CreateTempSubdirectory("fluxstudio-checkpoint-");
        try
        {
            string Unpack(string role)
            {
                var target = System.IO.Path.Combine(unpacked.FullName, role + ".safetensors");
                Entry(entries, files[role], path).ExtractToFile(target);
                return target;
            }
            return new TrainingCheckpoint(path, unpacked, Text(entries, files["config"], path), Text(entries, files["iterator"], path),
                LossesIn(entries, files, path), Unpack("lora_adapter"), Unpack("optimizer"));
        }
        catch
        {
            unpacked.Delete(recursive: true);
            throw;
        }
    }

    /// <summary>Only the losses of a checkpoint zip, without unpacking its adapter and optimizer files.</summary>
    /// <exception cref="FormatException">The file is not a checkpoint zip, or its loss file is not readable.</exception>
    public static IReadOnlyList<LossPoint> ReadLosses(string zipPath)
    {
        var path = System.IO.Path.GetFullPath(zipPath);
        using var archive = OpenZip(path);
        var (entries, files) = ReadManifest(archive, path);
        return LossesIn(entries, files, path);
    }

    private static ZipArchive OpenZip(string path)
    {
        try
        {
            var archive = ZipFile.OpenRead(path);
            if (archive.Entries.Sum(entry => entry.Length) <= MaxUnpackedBytes)
                return archive;
            archive.Dispose();
            throw new FormatException($"{path} unpacks to more than {MaxUnpackedBytes >> 30} GB, far more than a LoRA checkpoint holds.");
        }
        catch (InvalidDataException e)
        {
            throw new FormatException($"{path} is not a zip file ({e.Message}); choose a checkpoint zip from a run's _checkpoints folder.", e);
        }
    }

    /// <summary>The zip's files by name (the original app finds them whatever folder they were zipped in), and the file of each role.</summary>
    private static (Dictionary<string, ZipArchiveEntry> Entries, Dictionary<string, string> Files) ReadManifest(ZipArchive archive, string path)
    {
        var entries = archive.Entries.Where(entry => entry.Name.Length > 0).GroupBy(entry => entry.Name).ToDictionary(g => g.Key, g => g.First());
        var files = new Dictionary<string, string>();
        try
        {
            var manifest = JsonNode.Parse(Text(entries, ManifestName, path))?["files"] as JsonObject
                           ?? throw new FormatException($"{path}: {ManifestName} lists no files.");
            foreach (var role in Roles)
                files[role] = manifest[role]?.GetValue<string>() ?? throw new FormatException($"{path}: {ManifestName} names no {role} file.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new FormatException($"{path}: {ManifestName} is not the original app's checkpoint description ({e.Message}).", e);
        }
        return (entries, files);
    }

    private static ZipArchiveEntry Entry(Dictionary<string, ZipArchiveEntry> entries, string name, string path) =>
        entries.TryGetValue(name, out var entry)
            ? entry
            : throw new FormatException($"{path} has no {name}, so it is not a complete checkpoint of a training run.");

    private static string Text(Dictionary<string, ZipArchiveEntry> entries, string name, string path)
    {
        using var reader = new StreamReader(Entry(entries, name, path).Open(), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static IReadOnlyList<LossPoint> LossesIn(Dictionary<string, ZipArchiveEntry> entries, Dictionary<string, string> files, string path)
    {
        var text = Text(entries, files["loss"], path);
        try
        {
            return LossHistory.FromJson(text);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{path}: {files["loss"]}: {e.Message}", e);
        }
    }

    /// <summary>What a checkpoint holds besides the trainer's own files.</summary>
    /// <param name="ConfigJson">The configuration as the run uses it (examples path absolute, so the zip can move).</param>
    public sealed record Contents(int Iteration, string IteratorJson, IReadOnlyList<LossPoint> Losses, string ConfigJson, int ExampleCount,
        DateTime Start, DateTime End);

    /// <summary>
    /// Writes the zip: <paramref name="saveState"/> writes the adapter and the optimizer files to the two paths it is
    /// given. The zip appears under its name only once it is complete.
    /// </summary>
    public static void Write(string zipPath, Contents contents, Action<string, string> saveState)
    {
        var prefix = contents.Iteration.ToString("D7", CultureInfo.InvariantCulture);
        var names = new Dictionary<string, string>
        {
            ["config"] = $"{prefix}_config.json",
            ["optimizer"] = $"{prefix}_optimizer.safetensors",
            ["lora_adapter"] = $"{prefix}_adapter.safetensors",
            ["iterator"] = $"{prefix}_iterator.json",
            ["loss"] = $"{prefix}_loss.json",
        };
        var manifest = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["start"] = contents.Start.ToString(TimeFormat, CultureInfo.InvariantCulture),
                ["end"] = contents.End.ToString(TimeFormat, CultureInfo.InvariantCulture),
                ["duration"] = Duration(contents.End - contents.Start),
                ["number_of_training_examples"] = contents.ExampleCount,
            },
            ["files"] = new JsonObject([.. names.Select(pair => KeyValuePair.Create(pair.Key, (JsonNode?)pair.Value))]),
        };

        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(zipPath))!;
        Directory.CreateDirectory(folder);
        var state = Directory.CreateTempSubdirectory("fluxstudio-state-");
        var partial = zipPath + ".partial";
        try
        {
            var adapter = System.IO.Path.Combine(state.FullName, names["lora_adapter"]);
            var optimizer = System.IO.Path.Combine(state.FullName, names["optimizer"]);
            saveState(adapter, optimizer);
            using (var archive = ZipFile.Open(partial, ZipArchiveMode.Create))
            {
                archive.CreateEntryFromFile(optimizer, names["optimizer"], CompressionLevel.Optimal);
                archive.CreateEntryFromFile(adapter, names["lora_adapter"], CompressionLevel.Optimal);
                AddText(archive, names["iterator"], contents.IteratorJson);
                AddText(archive, names["loss"], LossHistory.ToJson(contents.Losses));
                AddText(archive, names["config"], contents.ConfigJson);
                AddText(archive, ManifestName, manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            File.Move(partial, zipPath, overwrite: true);
        }
        finally
        {
            File.Delete(partial);
            state.Delete(recursive: true);
        }
    }

    private static void AddText(ZipArchive archive, string name, string text)
    {
        using var writer = new StreamWriter(archive.CreateEntry(name, CompressionLevel.Optimal).Open(), new UTF8Encoding(false));
        writer.Write(text);
    }

    /// <summary>"1 hour and 5 minutes and 3 seconds", as the original app words a checkpoint's duration.</summary>
    internal static string Duration(TimeSpan duration)
    {
        long total = Math.Max(0, (long)duration.TotalSeconds);
        var (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
        var parts = new List<string>();
        if (hours > 0) parts.Add($"{hours} hour{(hours > 1 ? "s" : "")}");
        if (minutes > 0) parts.Add($"{minutes} minute{(minutes > 1 ? "s" : "")}");
        if (seconds > 0 || parts.Count == 0) parts.Add($"{seconds} second{(seconds > 1 ? "s" : "")}");
        return string.Join(" and ", parts);
    }

    public void Dispose()
    {
        try
        {
            _unpacked.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped by a reader on another platform; the temporary folder is cleaned up by the system.
        }
    }
}
