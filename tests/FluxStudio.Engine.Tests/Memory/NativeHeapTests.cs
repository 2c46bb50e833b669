using System.Runtime.CompilerServices;
using FluxStudio.Engine.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Memory;

[CollectionDefinition(nameof(NativeHeapTests), DisableParallelization = true)]
public sealed class NativeHeapCollection;

/// <summary>
/// <see cref="NativeHeap.KeepFreedPages"/> against glibc's own accounting (mallinfo2): alone in its collection, since
/// the heap's settings and counters are the whole process's.
/// </summary>
[Collection(nameof(NativeHeapTests))]
public sealed class NativeHeapTests
{
    // Above glibc's largest mmap threshold (32 MiB), below a thread heap's size (64 MiB).
    private const long BlockBytes = 48L << 20;

    /// <summary>The byte every page of a touched block is set to.</summary>
    private static readonly Scalar Written = 1;

    [Fact]
    public void WhileKeptALargeTensorComesFromTheHeapAndItsPagesStayAfterItIsFreed()
    {
        if (!OperatingSystem.IsLinux()) return;
        using (NativeHeap.KeepFreedPages())
        {
            var mapped = MappedBytesWhileAllocated();
            Assert.True(mapped < BlockBytes, $"{mapped} bytes were mapped for a {BlockBytes}-byte tensor");
            Assert.True(Usage().FreeBytes >= BlockBytes, "the freed tensor's block left the heap");
        }
        AssertLargeTensorsAreMapped("after the scope");
    }

    [Fact]
    public void OverlappingScopesKeepPagesUntilTheLastEnds()
    {
        if (!OperatingSystem.IsLinux()) return;
        var outer = NativeHeap.KeepFreedPages();
        using (NativeHeap.KeepFreedPages())
        {
        }
        Assert.True(MappedBytesWhileAllocated() < BlockBytes, "the inner scope's end stopped keeping pages the outer scope keeps");
        outer.Dispose();
        outer.Dispose();
        AssertLargeTensorsAreMapped("after the last scope");
    }

    [Fact]
    public void FreePagesWorthReturningGoBackToTheSystem()
    {
        if (!OperatingSystem.IsLinux()) return;
        // In blocks a thread's heap can hold, so that they come from the heap whichever thread runs the test.
        const long blockBytes = 16L << 20;
        long blocks = 2 * NativeHeap.WorthReturningBytes / blockBytes, pages = blocks * blockBytes / Environment.SystemPageSize;
        using (NativeHeap.KeepFreedPages())
        {
            // The heap takes a few rounds to settle: libtorch's aligned blocks fit freed ones only once those have joined.
            long kept = long.MaxValue;
            for (int round = 0; round < 8 && kept >= pages / 4; round++) kept = FaultsWhileTouching(blocks, blockBytes);
            Assert.True(kept < pages / 4, $"{kept} page faults for {pages} pages kept in the heap");
            NativeHeap.ReturnFreePages();
            var returned = FaultsWhileTouching(blocks, blockBytes);
            Assert.True(returned > pages / 2, $"{returned} page faults for {pages} pages that should have been returned");
        }
    }

    // Allocates the blocks, writes every page, frees them: the process's page faults meanwhile (libtorch's threads write too).
    private static long FaultsWhileTouching(long blocks, long blockBytes)
    {
        var before = MinorFaults();
        var held = new List<Tensor>();
        for (long i = 0; i < blocks; i++) held.Add(empty(blockBytes, ScalarType.Byte).fill_(Written));
        held.ForEach(tensor => tensor.Dispose());
        return MinorFaults() - before;
    }

    private static long MinorFaults() =>
        long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);

    [Fact]
    public void AStepsDroppedScalarsAreFreedOnceItEnds()
    {
        var scalars = DroppedScalars(1000);
        int Held() => scalars.Count(weak => weak.Target is Scalar scalar && HoldsNativeValue(scalar));
        // The finalizer thread frees them; waiting alone frees nothing, since only a collection queues finalizers. Once in
        // a whole run of the suite, with other tests' threads at work, one step's end left all 1000 held (the cause is not
        // known; another thread's collection under way may have stood in for this one): so up to three steps' ends.
        for (int step = 0; step < 3 && Held() > 0; step++)
        {
            NativeHeap.FreeStepLeftovers();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(0, Held());
    }

    // Scalars as TorchSharp makes them for an operation's numbers, then dropped. The weak references follow them
    // through finalization, so a finalized Scalar can still be asked whether it holds its native value.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference> DroppedScalars(int count) =>
        Enumerable.Range(0, count).Select(i => new WeakReference(((double)i).ToScalar(), trackResurrection: true)).ToList();

    private static bool HoldsNativeValue(Scalar scalar)
    {
        try
        {
            _ = scalar.Type;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    // A freed block that was not at its heap's top stays in glibc's free lists after the scope (its pages returned, its
    // addresses kept), and a request it fits is served from there whatever the settings. So hold large tensors until
    // the heaps' free memory cannot serve one more: with mmap allowed again, that one must be mapped.
    private static void AssertLargeTensorsAreMapped(string when)
    {
        var held = new List<Tensor>();
        try
        {
            var before = Usage().MappedBytes;
            var attempts = Usage().FreeBytes / BlockBytes + 2;
            long Mapped() => Usage().MappedBytes - before;
            while (held.Count < attempts && Mapped() < BlockBytes) held.Add(empty(BlockBytes, ScalarType.Byte));
            Assert.True(Mapped() >= BlockBytes, $"none of {held.Count} tensors of {BlockBytes} bytes was mapped {when}");
        }
        finally
        {
            held.ForEach(tensor => tensor.Dispose());
        }
    }

    private static long MappedBytesWhileAllocated()
    {
        var before = Usage().MappedBytes;
        using var tensor = empty(BlockBytes, ScalarType.Byte);
        return Usage().MappedBytes - before;
    }

    private static NativeHeap.HeapUsage Usage() =>
        NativeHeap.Usage() ?? throw new InvalidOperationException("glibc's heap counters (mallinfo2) are not available here");
}
