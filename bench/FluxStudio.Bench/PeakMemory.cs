using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace FluxStudio.Bench;

/// <summary>
/// The peak resident memory an action adds to the process (Linux: VmHWM after resetting it through
/// /proc/self/clear_refs, minus VmRSS before). Freed heap is returned to the system first, so what the action reuses of
/// earlier allocations does not hide its own.
/// </summary>
public static class PeakMemory
{
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
        MallocTrim(0);
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

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
