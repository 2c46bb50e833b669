using System.Globalization;

namespace FluxStudio.Engine.Memory;

/// <summary>
/// A generation that does not fit in memory: refused before it started (<see cref="Operation"/> is null) or stopped
/// by a failed allocation during <see cref="Operation"/>, with the changes that would make it fit.
/// </summary>
public sealed record MemoryShortfall(
    int Width,
    int Height,
    string? Operation,
    long? NeededBytes,
    long? AvailableBytes,
    IReadOnlyList<MemoryRemedy> Remedies)
{
    /// <summary>
    /// An allocation that failed outside a planned stage (while saving, say): half the pixels would likely fit. Sides
    /// stay multiples of <paramref name="sizeMultiple"/>.
    /// </summary>
    public static MemoryShortfall Unplanned(int width, int height, string operation, int sizeMultiple)
    {
        int Half(int side) => Math.Max(sizeMultiple, (int)(side / Math.Sqrt(2) / sizeMultiple) * sizeMultiple);
        return new MemoryShortfall(width, height, operation, null, null, [new MemoryRemedy(Half(width), Half(height))]);
    }

    /// <summary>One sentence: what did not fit, and what would, worded by <paramref name="wording"/>.</summary>
    public string Describe(IMemoryRemedyWording wording)
    {
        var problem = Operation is null
            ? $"A {Width} × {Height} image needs about {Gigabytes(NeededBytes)} of memory and {Gigabytes(AvailableBytes)} is available"
            : $"The {Width} × {Height} image ran out of memory while {Operation}";
        if (Remedies.Count == 0)
            return $"{problem}; nothing smaller fits here, so close other programs that use memory or use a machine with more.";
        var alternatives = Remedies.Select(wording.Describe).ToList();
        var list = alternatives.Count == 1
            ? alternatives[0]
            : $"{string.Join(", ", alternatives.Take(alternatives.Count - 1))} or {alternatives[^1]}";
        return $"{problem}; it would {(Operation is null ? "" : "likely ")}fit {list}.";
    }

    private static string Gigabytes(long? bytes) =>
        bytes is { } value ? (value / 1e9).ToString(value < 10e9 ? "0.0" : "0", CultureInfo.InvariantCulture) + " GB" : "an unknown amount";
}
