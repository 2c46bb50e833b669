using System.Globalization;
using System.Runtime.InteropServices;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Weights;
using TorchSharp;

namespace FluxStudio.Engine.Memory;

/// <summary>How much memory a new generation can count on.</summary>
public interface IDeviceMemory
{
    /// <summary>Bytes free for new allocations on the target's device now; null when this cannot be told.</summary>
    long? AvailableBytes(ComputeTarget target);
}

/// <summary>
/// The machine's own figures: on the CPU and on Apple's MPS (which shares the RAM) the RAM available to this process,
/// within its cgroup's limit on Linux; on CUDA the GPU's free memory as the NVIDIA driver reports it.
/// </summary>
/// <param name="limitBytes">When set, never more than this (a share of a machine that other programs use too).</param>
public sealed class SystemMemory(long? limitBytes = null) : IDeviceMemory
{
    public long? AvailableBytes(ComputeTarget target)
    {
        var available = target.DeviceType == DeviceType.CUDA ? NvidiaDriver.FreeBytes(target.DeviceIndex) : RamAvailable();
        return (available, limitBytes) switch
        {
            ({ } machine, { } limit) => Math.Min(machine, limit),
            _ => available ?? limitBytes,
        };
    }

    /// <summary>
    /// Linux: MemAvailable (free memory plus the page cache the kernel can drop), and no more than the cgroup leaves;
    /// the loaded model's mapped weight files (<see cref="WeightMapping"/>) count as in use, not as droppable page cache.
    /// Elsewhere: the memory .NET sees (physical, or the container's limit) less what this process uses.
    /// </summary>
    private static long? RamAvailable()
    {
        if (!OperatingSystem.IsLinux())
            return Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet);
        long weights = WeightMapping.ResidentBytes();
        var machine = ReadKilobytes("/proc/meminfo", "MemAvailable:") is { } available ? Math.Max(0, available - weights) : (long?)null;
        var cgroup = CgroupRoom(weights);
        return machine is { } m && cgroup is { } c ? Math.Min(m, c) : machine ?? cgroup;
    }

    /// <summary>
    /// The cgroup's limit less what it holds that the kernel cannot drop: its usage less inactive file pages, of which
    /// the mapped weights may be part.
    /// </summary>
    private static long? CgroupRoom(long mappedWeights)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var fields = line.Split(':', 3);
                if (fields.Length != 3) continue;
                if (fields[0] == "0" && fields[1] == "")
                    return Room($"/sys/fs/cgroup{fields[2]}", "memory.max", "memory.current", "inactive_file", mappedWeights);
                if (fields[1].Split(',').Contains("memory"))
                    return Room($"/sys/fs/cgroup/memory{fields[2]}", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file", mappedWeights);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }

    private static long? Room(string folder, string limitFile, string usageFile, string inactiveKey, long mappedWeights)
    {
        if (!File.Exists(Path.Combine(folder, limitFile))) return null;
        if (!long.TryParse(File.ReadAllText(Path.Combine(folder, limitFile)).Trim(), out var limit) || limit >= long.MaxValue / 2)
            return null;
        long.TryParse(File.ReadAllText(Path.Combine(folder, usageFile)).Trim(), out var usage);
        var inactive = Math.Max(0, (ReadValue(Path.Combine(folder, "memory.stat"), inactiveKey + " ") ?? 0) - mappedWeights);
        return Math.Max(0, limit - Math.Max(0, usage - inactive));
    }

    private static long? ReadKilobytes(string path, string key) => ReadValue(path, key) * 1024;

    private static long? ReadValue(string path, string key)
    {
        if (!File.Exists(path)) return null;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        var number = line?[key.Length..].Trim().Split(' ')[0];
        return long.TryParse(number, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    /// <summary>
    /// Free memory of a GPU through NVML, the NVIDIA driver's management library (no CUDA context is made). libtorch's
    /// device index is mapped through CUDA_VISIBLE_DEVICES when that lists indices; on a machine with several different
    /// GPUs set CUDA_DEVICE_ORDER=PCI_BUS_ID so that both count alike. Null whenever the driver cannot say.
    /// </summary>
    private static unsafe class NvidiaDriver
    {
        private static readonly string[] Libraries = ["libnvidia-ml.so.1", "nvml.dll", "nvidia-ml"];

        [StructLayout(LayoutKind.Sequential)]
        private struct NvmlMemory
        {
            public ulong Total;
            public ulong Free;
            public ulong Used;
        }

        public static long? FreeBytes(int deviceIndex)
        {
            var index = Math.Max(0, deviceIndex);
            var visible = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")?.Split(',', StringSplitOptions.TrimEntries);
            if (visible is { Length: > 0 } && visible[0].Length > 0 && (index >= visible.Length || !int.TryParse(visible[index], out index)))
                return null;
            var library = IntPtr.Zero;
            if (!Libraries.Any(name => NativeLibrary.TryLoad(name, out library))) return null;
            if (!NativeLibrary.TryGetExport(library, "nvmlInit_v2", out var init)
                || !NativeLibrary.TryGetExport(library, "nvmlDeviceGetHandleByIndex_v2", out var byIndex)
                || !NativeLibrary.TryGetExport(library, "nvmlDeviceGetMemoryInfo", out var memoryInfo))
                return null;
            IntPtr device;
            NvmlMemory memory;
            if (((delegate* unmanaged<int>)init)() != 0
                || ((delegate* unmanaged<uint, IntPtr*, int>)byIndex)((uint)index, &device) != 0
                || ((delegate* unmanaged<IntPtr, NvmlMemory*, int>)memoryInfo)(device, &memory) != 0)
                return null;
            return (long)memory.Free;
        }
    }
}
