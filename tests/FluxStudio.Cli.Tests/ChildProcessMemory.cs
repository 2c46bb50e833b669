using System.Runtime.InteropServices;

namespace FluxStudio.Cli.Tests;

/// <summary>The peak memory of ended child processes, as the kernel accounted it (getrusage with RUSAGE_CHILDREN).</summary>
internal static class ChildProcessMemory
{
    private const int Children = -1;

    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxResidentSet;
        public long SharedText, UnsharedData, UnsharedStack, MinorFaults, MajorFaults, Swaps, BlockInputs, BlockOutputs,
            MessagesSent, MessagesReceived, Signals, VoluntarySwitches, InvoluntarySwitches;
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetResourceUsage(int who, out ResourceUsage usage);

    /// <summary>
    /// The largest peak resident set of any child of this process that has ended and been waited for, in bytes: an upper
    /// bound for each of them. Null where getrusage is not available (Windows).
    /// </summary>
    public static long? LargestPeakBytes()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return null;
        if (GetResourceUsage(Children, out var usage) != 0)
            throw new InvalidOperationException($"getrusage failed with errno {Marshal.GetLastPInvokeError()}");
        // Linux counts kilobytes, macOS bytes.
        return OperatingSystem.IsMacOS() ? usage.MaxResidentSet : usage.MaxResidentSet * 1024;
    }
}
