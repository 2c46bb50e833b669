using System.Runtime.InteropServices;

namespace FluxStudio.Engine.Devices;

/// <summary>
/// Where engine work runs on the CPU. libtorch's CPU kernels split their work with OpenMP (GNU libgomp on Linux), and
/// libgomp gives every thread that starts a parallel region a team of worker threads of its own, kept for as long as
/// that thread lives. Once libgomp manages more threads than there are CPUs, every team stops spinning between
/// regions and puts its workers to sleep instead, so each of a step's thousands of small regions (attention runs a few
/// per block of queries) pays a futex wake-up: bf16 attention at the transformer slice's size took 1.3–1.6× as long
/// with one idle team left on another thread. Hence engine work runs on a thread of its own that gives its team back
/// when the work ends, never on the thread pool, whose threads would keep their teams.
/// </summary>
public static class ComputeThreads
{
    // OpenMP 5.0's omp_pause_hard: free the calling thread's team (libgomp ignores the kind for the host).
    private const int PauseHard = 2;

    private const string DefaultName = "FluxStudio engine";

    private static readonly Lazy<PauseResourceAll?> Pause = new(FindPause);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int PauseResourceAll(int kind);

    /// <summary>Runs engine work that takes seconds to minutes on a dedicated thread; its OpenMP team ends with it.</summary>
    /// <param name="name">The thread's name, as tools such as top and perf show it (and its OpenMP workers inherit).</param>
    public static Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default, string name = DefaultName)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Action complete;
            try
            {
                var result = work();
                complete = () => completion.SetResult(result);
            }
            catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested && e.CancellationToken == cancellationToken)
            {
                complete = () => completion.SetCanceled(cancellationToken);
            }
            catch (Exception e)
            {
                complete = () => completion.SetException(e);
            }
            // Before the caller goes on, so that its next engine work never overlaps with this team.
            ReleaseTeam();
            complete();
        }) { IsBackground = true, Name = name };
        thread.Start();
        return completion.Task;
    }

    /// <inheritdoc cref="Run{T}(Func{T}, CancellationToken, string)"/>
    public static Task Run(Action work, CancellationToken cancellationToken = default, string name = DefaultName) => Run(() =>
    {
        work();
        return true;
    }, cancellationToken, name);

    /// <summary>
    /// Ends the calling thread's OpenMP team, if it has one: for a thread that ran engine work and goes on living (a
    /// program's first thread after setting up). Returns false where there is no OpenMP runtime to ask (then nothing
    /// was changed).
    /// </summary>
    public static bool ReleaseTeam() => Pause.Value is { } pause && pause(PauseHard) == 0;

    /// <summary>libtorch's own copy of libgomp, found among the libraries the process has mapped (its name carries a hash).</summary>
    private static PauseResourceAll? FindPause()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            _ = TorchRuntime.LibTorchVersion; // maps libtorch and its libgomp
            var library = File.ReadLines("/proc/self/maps")
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length >= 6)
                .Select(fields => fields[5])
                .FirstOrDefault(path => Path.GetFileName(path).StartsWith("libgomp", StringComparison.Ordinal));
            return library != null
                && NativeLibrary.TryLoad(library, out var handle)
                && NativeLibrary.TryGetExport(handle, "omp_pause_resource_all", out var address)
                ? Marshal.GetDelegateForFunctionPointer<PauseResourceAll>(address)
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
