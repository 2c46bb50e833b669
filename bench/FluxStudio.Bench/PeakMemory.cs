using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using FluxStudio.Engine.Memory;

namespace FluxStudio.Bench;

/// <summary>
/// The peak resident memory an action adds to the process (Linux: VmHWM after resetting it through
/// /proc/self/clear_refs, minus VmRSS before).
/// </summary>
/// <remarks>
/// glibc keeps freed blocks below its mmap threshold (which it raises up to 32 MB as large blocks are freed) in its heap,
/// where they count as resident and fragment, so a tensor freed in one block and a slightly larger one allocated in the
/// next make the peak grow with depth although the live memory does not. Using this class fixes the threshold at 64 KiB
/// for the rest of the process: every tensor of any size is then mapped and unmapped on its own and the peak is that of
/// the live tensors (allocations cost a little more time).
/// </remarks>
public static class PeakMemory
{
    private const int MmapThreshold = -3;

    static PeakMemory()
    {
        if (Supported) _ = Mallopt(MmapThreshold, 64 << 10);
    }

    public static bool Supported => OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs");

    /// <summary>Bytes above the resident memory at the start; -1 where this cannot be measured.</summary>
    public static long Added(Action action)
    {
        if (!Supported)
        {
            action();
            return -1;
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        NativeHeap.ReturnFreePages();
        File.WriteAllText("/proc/self/clear_refs", "5");
        long before = Read("VmRSS");
        action();
        return Read("VmHWM") - before;
    }

    private static long Read(string field)
    {
        var match = Regex.Match(File.ReadAllText("/proc/self/status"), $@"{field}:\s+(\d+) kB");
        return long.Parse(match.Groups[1].Value) * 1024;
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
}
