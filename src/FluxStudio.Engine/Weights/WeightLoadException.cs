namespace FluxStudio.Engine.Weights;

/// <summary>A checkpoint that does not fit the model: the message lists the offending tensors by name.</summary>
public sealed class WeightLoadException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
    IReadOnlyList<string> wrongShape)
    : Exception(Describe(source, missing, unexpected, wrongShape))
{
    public IReadOnlyList<string> Missing { get; } = missing;
    public IReadOnlyList<string> Unexpected { get; } = unexpected;
    public IReadOnlyList<string> WrongShape { get; } = wrongShape;

    private static string Describe(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<string> wrongShape)
    {
        const int shown = 12;
        static string List(IReadOnlyList<string> names) =>
            string.Join(", ", names.Take(shown)) + (names.Count > shown ? $" and {names.Count - shown} more" : "");
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing tensor(s): {List(missing)}");
        if (wrongShape.Count > 0) parts.Add($"{wrongShape.Count} tensor(s) of the wrong shape: {List(wrongShape)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected tensor(s): {List(unexpected)}");
        return $"{source} does not match the model ({string.Join("; ", parts)}). " +
               "Check that the file belongs to this model part and variant (schnell or dev).";
    }
}
