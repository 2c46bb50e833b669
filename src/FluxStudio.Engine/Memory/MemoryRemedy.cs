namespace FluxStudio.Engine.Memory;

/// <summary>
/// One way to make a generation fit in memory: every field that is set is a change to the request, several together
/// when no single change is enough.
/// </summary>
public sealed record MemoryRemedy(int? Width = null, int? Height = null, int? QuantizeBits = null, bool LowMemory = false);

/// <summary>Words a remedy in the terms of one surface: the CLI's flags, the web form's fields, or plain words.</summary>
public interface IMemoryRemedyWording
{
    /// <summary>The remedy as the end of "it would fit …", e.g. "with -q 8".</summary>
    string Describe(MemoryRemedy remedy);
}

/// <summary>Surface-neutral words ("at 1024 × 1024", "with 8-bit quantization", "in low-memory mode").</summary>
public sealed class PlainMemoryRemedyWording : IMemoryRemedyWording
{
    public static PlainMemoryRemedyWording Instance { get; } = new();

    public string Describe(MemoryRemedy remedy)
    {
        var parts = new List<string>();
        if (remedy.QuantizeBits is { } bits) parts.Add($"with {bits}-bit quantization");
        if (remedy.LowMemory) parts.Add("in low-memory mode");
        if (remedy.Width is { } width && remedy.Height is { } height) parts.Add($"at {width} × {height}");
        return string.Join(" ", parts);
    }
}
