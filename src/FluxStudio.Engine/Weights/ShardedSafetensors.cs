using System.Text.Json;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// A checkpoint split over several safetensors files, listed by a Hugging Face `*.safetensors.index.json`
/// (`{"weight_map": {"tensor name": "file name"}}`). Shards are opened when first needed.
/// </summary>
public sealed class ShardedSafetensors : ITensorSource
{
    private readonly Dictionary<string, string> _weightMap;
    private readonly Dictionary<string, SafetensorsFile> _open = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    private ShardedSafetensors(string indexPath, Dictionary<string, string> weightMap)
    {
        IndexPath = indexPath;
        _weightMap = weightMap;
    }

    public string IndexPath { get; }

    public string Description => IndexPath;

    public IReadOnlyCollection<string> Names => _weightMap.Keys;

    public bool Contains(string name) => _weightMap.ContainsKey(name);

    public static ShardedSafetensors Open(string indexPath)
    {
        if (!File.Exists(indexPath))
            throw new FileNotFoundException($"{indexPath}: the checkpoint index does not exist.", indexPath);
        var directory = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new SafetensorsException(indexPath, "the index has no \"weight_map\" object.");
            foreach (var entry in map.EnumerateObject())
            {
                var file = entry.Value.GetString();
                if (string.IsNullOrEmpty(file) || Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal))
                    throw new SafetensorsException(indexPath, $"tensor '{entry.Name}' points to an invalid shard name '{file}'.");
                weightMap[entry.Name] = Path.Combine(directory, file);
            }
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(indexPath, $"the index is not valid JSON ({e.Message}).");
        }
        foreach (var shard in weightMap.Values.Distinct())
            if (!File.Exists(shard))
                throw new SafetensorsException(indexPath, $"the shard {Path.GetFileName(shard)} is missing; download it again.");
        return new ShardedSafetensors(indexPath, weightMap);
    }

    public TensorInfo Info(string name) => Shard(name).Info(name);

    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null) => Shard(name).Load(name, dtype, device);

    public void LoadInto(string name, Tensor target) => Shard(name).LoadInto(name, target);

    private SafetensorsFile Shard(string name)
    {
        if (!_weightMap.TryGetValue(name, out var file))
            throw new KeyNotFoundException($"{IndexPath}: there is no tensor named '{name}'.");
        SafetensorsFile? shard;
        lock (_gate)
        {
            if (!_open.TryGetValue(file, out shard))
                _open[file] = shard = SafetensorsFile.Open(file);
        }
        return shard.Contains(name)
            ? shard
            : throw new SafetensorsException(IndexPath, $"the index puts '{name}' in {Path.GetFileName(file)}, which does not hold it.");
    }

    public void CompleteLoading()
    {
        List<SafetensorsFile> shards;
        lock (_gate) shards = [.. _open.Values];
        foreach (var shard in shards) shard.CompleteLoading();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var shard in _open.Values) shard.Dispose();
            _open.Clear();
        }
    }
}
