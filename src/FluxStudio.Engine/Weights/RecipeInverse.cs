using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// Runs name recipes backwards: from tensors under our canonical names to the tensors of the other layout, so a model
/// can also be written in that layout (tiny test models in the diffusers layout, for instance).
/// </summary>
public static class RecipeInverse
{
    /// <param name="recipes">The recipes that read the other layout (canonical name → parts of source tensors).</param>
    /// <param name="canonical">Tensors under canonical names.</param>
    /// <param name="fullPartRows">
    /// Rows of a source tensor used whole inside a fused canonical tensor (q, k, v of a fused qkv), which the recipe
    /// alone cannot tell.
    /// </param>
    /// <param name="sourceShape">Shape of a reshaped source tensor (a 1×1 convolution stored as a matrix, say).</param>
    public static Dictionary<string, Tensor> Invert(IReadOnlyDictionary<string, TensorRecipe> recipes,
        IReadOnlyDictionary<string, Tensor> canonical, Func<string, long> fullPartRows,
        Func<string, Tensor, long[]>? sourceShape = null)
    {
        var segments = new Dictionary<string, List<(long Start, Tensor Rows)>>(StringComparer.Ordinal);
        foreach (var (name, recipe) in recipes)
        {
            if (!canonical.TryGetValue(name, out var tensor)) continue;
            long offset = 0;
            foreach (var part in recipe.Parts)
            {
                long start = part.RowStart ?? 0;
                long rows = part.RowStart is { } s ? (part.RowEnd ?? s) - s
                    : recipe.Parts.Count == 1 ? tensor.shape[0] : fullPartRows(part.SourceName);
                var piece = recipe.Reshape != null
                    ? tensor.reshape(sourceShape?.Invoke(part.SourceName, tensor) ?? throw new InvalidOperationException(
                        $"the shape of {part.SourceName} must be given to invert a reshape"))
                    : tensor.narrow(0, offset, rows);
                offset += rows;
                if (!segments.TryGetValue(part.SourceName, out var list)) segments[part.SourceName] = list = [];
                list.Add((start, piece));
            }
        }
        return segments.ToDictionary(pair => pair.Key,
            pair => pair.Value.Count == 1
                ? pair.Value[0].Rows.contiguous()
                : cat(pair.Value.OrderBy(s => s.Start).Select(s => s.Rows).ToArray(), 0),
            StringComparer.Ordinal);
    }
}
