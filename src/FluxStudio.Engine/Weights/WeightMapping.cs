using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// Whether a model's weights loaded on the CPU in their stored dtype (<see cref="ITensorSource.LoadInto"/>) use the
/// file's pages as their memory (a private, copy-on-write mapping) instead of a copy: nothing is copied or zeroed, and
/// the page cache and the model are the same memory rather than two copies. Linux only; elsewhere, and inside
/// <see cref="Disable"/>, weights are read.
/// </summary>
/// <remarks>
/// A mapped weight is resident once loaded (its pages are faulted in when the loader completes, from the disk if they
/// are not cached), and counts
/// in the process's resident memory like a copy would. Writing to it changes the process's copy only, never the file.
/// Like every memory-mapped loader, it needs the file to stay as it is while the model is loaded: files are replaced by
/// renaming a new one into place (downloads and <see cref="SafetensorsWriter"/> do), never rewritten in place.
/// </remarks>
public static class WeightMapping
{
    private static readonly AsyncLocal<bool> Disabled = new();

    public static bool IsEnabled => OperatingSystem.IsLinux() && !Disabled.Value;

    /// <summary>Reads weights into memory of their own until disposed (on this thread and the tasks it starts).</summary>
    public static IDisposable Disable()
    {
        bool before = Disabled.Value;
        Disabled.Value = true;
        return new Restore(before);
    }

    private sealed class Restore(bool before) : IDisposable
    {
        public void Dispose() => Disabled.Value = before;
    }

    /// <summary>
    /// Bytes of safetensors files (or of the one at <paramref name="path"/>) that this process holds mapped and resident.
    /// The kernel counts such pages as available memory, since it could drop them and read them again; a model's mapped
    /// weights are not memory a new generation can count on, so <see cref="Memory.SystemMemory"/> subtracts them.
    /// </summary>
    public static long ResidentBytes(string? path = null)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/smaps")) return 0;
        long total = 0;
        bool counting = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue;
            if (!fields[0].EndsWith(':'))
            {
                // A mapping's first line: "start-end perms offset device inode [path]".
                var file = fields.Length >= 6 ? string.Join(' ', fields[5..]) : "";
                counting = path is null ? file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) : file == path;
            }
            else if (counting && fields is ["Rss:", var kilobytes, "kB"] && long.TryParse(kilobytes, out long value))
                total += value * 1024;
        }
        return total;
    }

    private const int PopulateRead = 22; // MADV_POPULATE_READ (Linux 5.14)
    private const int BadAddress = 14; // EFAULT: part of the range is not backed by the file

    /// <summary>Where a CPU tensor's bytes are.</summary>
    internal static unsafe (nint Start, long Length) Range(Tensor tensor)
    {
        long length = tensor.NumberOfElements * tensor.ElementSize;
        if (length == 0) return (0, 0);
        fixed (byte* data = tensor.bytes)
            return ((nint)data, length);
    }

    private const long PopulateChunk = 32L << 20;

    /// <summary>
    /// Faults in the pages of mapped memory now, in chunks spread over the cores, so that loading, not the first use,
    /// pays for them (reading them from the disk when they are not cached).
    /// </summary>
    /// <returns>False when part of a range lies beyond the end of its file (the file shrank after it was opened).</returns>
    internal static bool Populate(IReadOnlyList<(nint Start, long Length)> ranges)
    {
        long page = Environment.SystemPageSize;
        var chunks = new List<(long Start, long Length)>();
        foreach (var (start, length) in ranges.Where(range => range.Length > 0))
        {
            long first = start & ~(page - 1), end = start + length;
            for (long chunk = first; chunk < end; chunk += PopulateChunk)
                chunks.Add((chunk, Math.Min(PopulateChunk, end - chunk)));
        }
        int beyondEnd = 0;
        Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, chunk =>
        {
            if (!Populate(chunk.Start, chunk.Length)) Interlocked.Exchange(ref beyondEnd, 1);
        });
        return beyondEnd == 0;
    }

    /// <summary>
    /// Linux maps the cached pages around a faulting one along with it (fault-around, 64 KiB by default), so asking for one
    /// page of every such block makes the whole range resident at a fraction of the cost of asking for every page. A page
    /// left out (a kernel set to a smaller window) is only faulted in at its first use.
    /// </summary>
    private const long FaultAroundBytes = 64 << 10;

    private static unsafe bool Populate(long start, long length)
    {
        long page = Environment.SystemPageSize, last = (start + length - 1) & ~(page - 1);
        for (long address = start; ; address = Math.Min(address + FaultAroundBytes, last))
        {
            if (madvise((nint)address, (nuint)page, PopulateRead) != 0)
            {
                if (Marshal.GetLastPInvokeError() == BadAddress) return false;
                // Kernels before 5.14: touch the page instead.
                GC.KeepAlive(*(byte*)address);
            }
            if (address == last) return true;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}
