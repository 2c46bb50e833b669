using FluxStudio.Engine.Memory;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// A generation that does not fit in memory: refused before it started, or stopped because libtorch (or .NET) could
/// not allocate. <see cref="Shortfall"/> holds the figures and the changes that would fit, for each surface to word in
/// its own terms; the message words them plainly.
/// </summary>
public sealed class EngineMemoryException(MemoryShortfall shortfall, Exception? inner = null)
    : Exception(shortfall.Describe(PlainMemoryRemedyWording.Instance), inner)
{
    public MemoryShortfall Shortfall { get; } = shortfall;

    /// <summary>The one sentence, with the remedies in <paramref name="wording"/>'s terms.</summary>
    public string Describe(IMemoryRemedyWording wording) => Shortfall.Describe(wording);

    /// <summary>Whether an exception from libtorch (or .NET) reports a failed allocation.</summary>
    public static bool IsAllocationFailure(Exception exception) =>
        exception is OutOfMemoryException
        || exception.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
        || exception.Message.Contains("bad_alloc", StringComparison.Ordinal)
        || exception.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase)
        || exception.Message.Contains("CUBLAS_STATUS_ALLOC_FAILED", StringComparison.Ordinal);
}
