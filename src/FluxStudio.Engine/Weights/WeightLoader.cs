using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// Fills a module's parameters and buffers from a tensor source whose names are the module's own, one tensor at
/// a time (so a checkpoint is never in memory twice), converting dtype and device on the way.
/// </summary>
public static class WeightLoader
{
    /// <param name="ignoreUnexpected">Source names that may be present without a matching parameter.</param>
    /// <param name="optional">Module names that may be absent from the source (they keep their values).</param>
    public static void Load(nn.Module module, ITensorSource source, Func<string, bool>? ignoreUnexpected = null,
        Func<string, bool>? optional = null)
    {
        var targets = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in module.named_parameters()) targets[name] = parameter;
        foreach (var (name, buffer) in module.named_buffers()) targets.TryAdd(name, buffer);

        var missing = targets.Keys.Where(name => !source.Contains(name) && optional?.Invoke(name) != true).ToList();
        var unexpected = source.Names.Where(name => !targets.ContainsKey(name) && ignoreUnexpected?.Invoke(name) != true)
            .Order(StringComparer.Ordinal).ToList();
        var wrongShape = new List<string>();
        foreach (var (name, target) in targets)
        {
            if (!source.Contains(name)) continue;
            var info = source.Info(name);
            if (!info.Shape.SequenceEqual(target.shape))
                wrongShape.Add($"{name} {info.ShapeText} (model expects [{string.Join(", ", target.shape)}])");
        }
        if (missing.Count > 0 || unexpected.Count > 0 || wrongShape.Count > 0)
            throw new WeightLoadException(source.Description, missing, unexpected, wrongShape);

        using var _ = no_grad();
        foreach (var (name, target) in targets)
        {
            if (!source.Contains(name)) continue;
            source.LoadInto(name, target);
        }
        source.CompleteLoading();
    }
}
