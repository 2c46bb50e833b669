using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluxStudio.App.Outputs;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Training;

/// <summary>
/// The studio's training runs on disk, one folder each under <c>{DataRoot}/training/</c>: <c>run.json</c> (the
/// <see cref="TrainingRun"/>), <c>train.json</c> (the configuration, its images in <c>images/</c> and its outputs in
/// <c>out/</c>, both relative to it, so a run folder can be moved or trained from the command line as it is).
/// <c>run.json</c> is replaced whole on every change, so a crash leaves the last state.
/// </summary>
public sealed partial class TrainingRunStore(IOptions<StudioOptions> options, TimeProvider? time = null)
{
    public const string ConfigFileName = "train.json";
    public const string ImagesFolderName = "images";
    public const string OutputFolderName = "out";
    private const string RunFileName = "run.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string Root => Path.Combine(options.Value.ResolveDataRoot(), "training");

    /// <summary>The folder of run <paramref name="id"/>; null when the id is not one this store makes (so never a path outside).</summary>
    public string? FolderOf(string id) => RunId().IsMatch(id) ? Path.Combine(Root, id) : null;

    public string ConfigPath(string id) => Path.Combine(FolderOf(id)!, ConfigFileName);

    public TrainingOutputFolder Output(string id) => new(Path.Combine(FolderOf(id)!, OutputFolderName));

    /// <summary>
    /// A new run's folder with its images and configuration (the examples path and output path set to the run's own
    /// folders); the run is not stored until <see cref="SaveAsync"/>.
    /// </summary>
    /// <param name="images">File names (as the configuration lists them, no folders) and their bytes.</param>
    public async Task<string> CreateFolderAsync(JsonObject config, IReadOnlyList<(string Name, byte[] Bytes)> images, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        string id, folder;
        do
        {
            id = $"{now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..6]}";
            folder = Path.Combine(Root, id);
        } while (Directory.Exists(folder));
        Directory.CreateDirectory(Path.Combine(folder, ImagesFolderName));
        foreach (var (name, bytes) in images)
        {
            if (Path.GetFileName(name) != name || name is "." or "..")
                throw new ArgumentException($"\"{name}\" is not a plain file name.", nameof(images));
            await File.WriteAllBytesAsync(Path.Combine(folder, ImagesFolderName, name), bytes, ct);
        }
        var examples = config["examples"] as JsonObject ?? throw new ArgumentException("The configuration has no examples section.", nameof(config));
        examples["path"] = ImagesFolderName;
        (config["save"] ??= new JsonObject())["output_path"] = OutputFolderName;
        await File.WriteAllTextAsync(Path.Combine(folder, ConfigFileName), config.ToJsonString(Json), ct);
        return id;
    }

    public async Task SaveAsync(TrainingRun run, CancellationToken ct)
    {
        var folder = FolderOf(run.Id) ?? throw new ArgumentException($"\"{run.Id}\" is not a run id.", nameof(run));
        await _gate.WaitAsync(ct);
        try
        {
            await AtomicFile.WriteAsync(Path.Combine(folder, RunFileName), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(run, Json)), overwrite: true, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<TrainingRun?> GetAsync(string id, CancellationToken ct)
    {
        if (FolderOf(id) is not { } folder || !File.Exists(Path.Combine(folder, RunFileName)))
            return null;
        return JsonSerializer.Deserialize<TrainingRun>(await File.ReadAllBytesAsync(Path.Combine(folder, RunFileName), ct), Json);
    }

    /// <summary>Every stored run, newest first; folders whose <c>run.json</c> cannot be read are skipped.</summary>
    public async Task<IReadOnlyList<TrainingRun>> ListAsync(CancellationToken ct)
    {
        if (!Directory.Exists(Root))
            return [];
        var runs = new List<TrainingRun>();
        foreach (var folder in Directory.EnumerateDirectories(Root))
        {
            try
            {
                if (await GetAsync(Path.GetFileName(folder), ct) is { } run)
                    runs.Add(run);
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                // A run folder someone copied in half, or edited by hand; the others are still listed.
            }
        }
        return [.. runs.OrderByDescending(run => run.CreatedAt)];
    }

    [GeneratedRegex(@"^\d{8}-\d{6}-[0-9a-f]{6}$")]
    private static partial Regex RunId();
}
