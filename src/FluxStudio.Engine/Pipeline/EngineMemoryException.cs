namespace FluxStudio.Engine.Pipeline;

/// <summary>libtorch could not allocate memory (CUDA out of memory, CPU bad_alloc), with advice a person can act on.</summary>
public sealed class EngineMemoryException(string operation, Exception inner)
    : Exception(
        $"Not enough memory while {operation}. Try 8-bit or 4-bit quantization (-q 8 or -q 4), a smaller image, " +
        "or the low-memory mode (--low-ram), and close other programs that use the GPU or RAM.", inner)
{
    /// <summary>Whether an exception from libtorch (or .NET) reports a failed allocation.</summary>
    public static bool IsAllocationFailure(Exception exception) =>
        exception is OutOfMemoryException
        || exception.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
        || exception.Message.Contains("bad_alloc", StringComparison.Ordinal)
        || exception.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase)
        || exception.Message.Contains("CUBLAS_STATUS_ALLOC_FAILED", StringComparison.Ordinal);
}
