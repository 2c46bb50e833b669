using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>One slice of a source tensor: rows [Start, End) along dim 0, or all of it.</summary>
public sealed record TensorPart(string SourceName, long? RowStart = null, long? RowEnd = null);

/// <summary>How to build one tensor from a source: its parts concatenated along dim 0, then reshaped if asked.</summary>
public sealed record TensorRecipe(IReadOnlyList<TensorPart> Parts, long[]? Reshape = null)
{
    public static TensorRecipe Rename(string sourceName) => new([new TensorPart(sourceName)]);
}

/// <summary>
/// Presents a checkpoint under our canonical names: renames, fuses (q, k, v → qkv), reorders rows and reshapes,
/// as the recipes say. Source tensors that no recipe uses are reported by <see cref="Names"/> as they are, so a
/// loader still sees them as unexpected.
/// </summary>
public sealed class MappedTensorSource : ITensorSource
{
    private readonly ITensorSource _inner;
    private readonly Dictionary<string, TensorRecipe> _recipes;
    private readonly List<string> _names;

    public MappedTensorSource(ITensorSource inner, IReadOnlyDictionary<string, TensorRecipe> recipes, string layout)
    {
        _inner = inner;
        _recipes = recipes
            .Where(pair => pair.Value.Parts.All(part => inner.Contains(part.SourceName)))
            .ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
        var used = _recipes.Values.SelectMany(recipe => recipe.Parts).Select(part => part.SourceName).ToHashSet(StringComparer.Ordinal);
        _names = [.. _recipes.Keys, .. inner.Names.Where(name => !used.Contains(name) && !_recipes.ContainsKey(name))];
        Description = $"{inner.Description} ({layout} layout)";
    }

    public string Description { get; }

    public IReadOnlyCollection<string> Names => _names;

    public bool Contains(string name) => _recipes.ContainsKey(name) || _inner.Contains(name);

    public TensorInfo Info(string name)
    {
        if (!_recipes.TryGetValue(name, out var recipe)) return _inner.Info(name);
        var infos = recipe.Parts.Select(part => (part, info: _inner.Info(part.SourceName))).ToList();
        var first = infos[0].info;
        long rows = infos.Sum(x => RowCount(x.part, x.info));
        var shape = recipe.Reshape ?? [rows, .. first.Shape.Skip(1)];
        long bytes = infos.Sum(x => x.info.ByteLength / Math.Max(1, x.info.Shape.FirstOrDefault(1)) * RowCount(x.part, x.info));
        return new TensorInfo(name, first.DType, shape, -1, bytes);
    }

    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!_recipes.TryGetValue(name, out var recipe)) return _inner.Load(name, dtype, device);
        using var scope = NewDisposeScope();
        var pieces = recipe.Parts.Select(part =>
        {
            var whole = _inner.Load(part.SourceName);
            return part.RowStart is { } start ? whole.narrow(0, start, (part.RowEnd ?? whole.shape[0]) - start) : whole;
        }).ToList();
        var joined = pieces.Count == 1 ? pieces[0] : cat(pieces, 0);
        if (recipe.Reshape != null) joined = joined.reshape(recipe.Reshape);
        return joined.to(dtype ?? joined.dtype, device ?? CPU).contiguous().MoveToOuterDisposeScope();
    }

    public void LoadInto(string name, Tensor target)
    {
        if (!_recipes.TryGetValue(name, out var recipe))
            _inner.LoadInto(name, target);
        else if (recipe.Parts is [{ RowStart: null } part] && recipe.Reshape is null)
            _inner.LoadInto(part.SourceName, target);
        else
        {
            using var value = Load(name);
            using var _ = no_grad();
            target.copy_(value);
        }
    }

    private static long RowCount(TensorPart part, TensorInfo info) =>
        part.RowStart is { } start ? (part.RowEnd ?? info.Shape[0]) - start : info.Shape.FirstOrDefault(1);

    public void CompleteLoading() => _inner.CompleteLoading();

    public void Dispose() => _inner.Dispose();
}
