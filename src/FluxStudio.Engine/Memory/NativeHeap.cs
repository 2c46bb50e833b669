using System.Runtime.InteropServices;

namespace FluxStudio.Engine.Memory;

/// <summary>
/// libtorch's CPU tensors live on the C heap. glibc keeps the pages of freed blocks for later, so one stage's
/// activations would stay resident under the next stage's and the peak would be their sum rather than the larger.
/// Within a stage the opposite holds: a denoising step frees and allocates the same large activations again and
/// again, and each block glibc hands back to the system (those over its mmap threshold, or freed at the heap's top)
/// comes back as fresh pages the kernel must fault in and zero, 5–15 % of a step on the CPU.
/// </summary>
public static class NativeHeap
{
    private const int TrimThreshold = -1, TopPad = -2, MmapMax = -4;

    // glibc's defaults (malloc.c: DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX; malloc-machine.h: DEFAULT_TOP_PAD).
    private const int DefaultTrimThreshold = 128 * 1024, DefaultMmapMax = 65536, DefaultTopPad = 128 * 1024;

    // Far above any one step's freed memory: the stage's end returns the pages.
    private const int KeptTrimThreshold = int.MaxValue;

    // A thread's arena (any thread but the process's first) grows in heaps of up to 64 MiB, each sized to the block that
    // needed it plus this pad, and glibc 2.36 serves libtorch's blocks (posix_memalign) from a freed block only with the
    // alignment's worst case to spare. With glibc's pad the bench slice still gave back and faulted in again about
    // 100 MB each bf16 forward; with a whole heap's pad, none, for 1–5 % more resident memory.
    private const int KeptTopPad = 64 << 20;

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern HeapInfo MallInfo();

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    private static readonly Lock Gate = new();
    private static bool _unavailable = !OperatingSystem.IsLinux();
    private static int _keeping;

    /// <summary>
    /// The least free heap memory worth returning between stages. Trimming walks every free block and returns its pages
    /// one system call at a time, and the next stage faults them in and zeroes them again: for the tiny model that was
    /// 1–8 % of a whole generation (bench, 128², 4 steps), to give back a few megabytes a peak of gigabytes would not notice.
    /// </summary>
    public const long WorthReturningBytes = 64L << 20;

    /// <summary>
    /// Returns the heap's free pages to the system (glibc's malloc_trim) once the heaps hold at least
    /// <see cref="WorthReturningBytes"/> of free blocks; does nothing where there is no such call.
    /// </summary>
    public static void ReturnFreePages() => Call(() =>
    {
        // Without glibc's counters (before 2.33) every call trims.
        if (Usage() is not { } usage || usage.FreeBytes >= WorthReturningBytes) MallocTrim(0);
    });

    /// <summary>What glibc counts of its heaps (mallinfo2); null where there is no such call (not glibc, or before 2.33).</summary>
    public static HeapUsage? Usage()
    {
        if (_unavailable) return null;
        try
        {
            var info = MallInfo();
            return new HeapUsage((long)info.MappedBytes, (long)info.FreeInArenas);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    /// <param name="MappedBytes">Blocks served by mmap of their own, outside the heaps.</param>
    /// <param name="FreeBytes">Free blocks in the heaps, whether their pages are still resident or already returned.</param>
    public readonly record struct HeapUsage(long MappedBytes, long FreeBytes);

    /// <summary>
    /// Until disposed, freed blocks stay in the heap for the next allocations instead of going back to the system
    /// (no mmap for large blocks, no trimming); at the end the free pages are returned. For a stage that repeats the
    /// same allocations, such as the denoising loop. Scopes may overlap (generations on several threads).
    /// </summary>
    public static IDisposable KeepFreedPages()
    {
        lock (Gate)
        {
            if (_keeping++ == 0) Configure(mmapMax: 0, trimThreshold: KeptTrimThreshold, topPad: KeptTopPad);
        }
        return new KeepScope();
    }

    private static void Release()
    {
        lock (Gate)
        {
            if (--_keeping == 0) Configure(DefaultMmapMax, DefaultTrimThreshold, DefaultTopPad);
        }
        ReturnFreePages();
    }

    private static void Configure(int mmapMax, int trimThreshold, int topPad) => Call(() =>
    {
        Mallopt(MmapMax, mmapMax);
        Mallopt(TrimThreshold, trimThreshold);
        Mallopt(TopPad, topPad);
    });

    /// <summary>
    /// Hands the native memory that only finalizers free to the finalizer thread, for a stage that repeats the same
    /// allocations: call it at the end of each step. TorchSharp objects nobody disposed are freed only by their
    /// finalizers: when this was written, mostly the Scalars it made for every number an operation took (the engine now
    /// passes Scalars that live on, see <see cref="Layers.Scalars"/>), and still enough else that skipping the collection
    /// puts back tens to thousands of page faults per bf16 slice forward. Small managed objects bring on a collection
    /// rarely, so until then these sit between the step's large freed blocks and keep them from joining: the next step's
    /// blocks no longer fit, the heap grows, and its new pages must be faulted in and zeroed. A collection of the youngest
    /// generation finds them; the finalizer thread frees them while the next step begins (waiting for it made no
    /// difference to the faults).
    /// </summary>
    public static void FreeStepLeftovers() => GC.Collect(0, GCCollectionMode.Forced, blocking: true);

    private static void Call(Action call)
    {
        if (_unavailable) return;
        try
        {
            call();
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
        }
    }

    // glibc's struct mallinfo2, every field a size_t.
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct HeapInfo
    {
        public readonly nuint Arena, OrdinaryBlocks, SmallBlocks, MappedBlocks, MappedBytes, MaxAllocated, FreedSmallBytes,
            AllocatedBytes, FreeInArenas, Releasable;
    }

    private sealed class KeepScope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Release();
        }
    }
}
