using FluxStudio.Engine.Devices;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Devices;

/// <summary>
/// An OpenMP team's workers are threads of the process that inherit the name of the thread that started them, so a
/// uniquely named thread's team shows in /proc/self/task. These checks need libgomp (Linux) and more than one libtorch
/// thread; on a machine with one CPU there is no team to see.
/// </summary>
public sealed class ComputeThreadsTests
{
    [Fact]
    public void ReleasingTheTeamEndsTheWorkersOfTheCallingThread()
    {
        if (!CanSeeTeams()) return;
        string name = UniqueName();
        int? withTeam = null, afterRelease = null;
        bool released = false;
        var thread = new Thread(() =>
        {
            RunParallelKernel();
            withTeam = ThreadsNamed(name).Count;
            released = ComputeThreads.ReleaseTeam();
            afterRelease = ThreadsNamed(name).Count;
        }) { Name = name };
        thread.Start();
        thread.Join();

        Assert.Equal(TorchRuntime.Threads, withTeam);
        Assert.True(released);
        Assert.Equal(1, afterRelease);
    }

    [Fact]
    public async Task WorkRunsOffTheThreadPoolAndLeavesNoTeamBehind()
    {
        if (!CanSeeTeams()) return;
        string name = UniqueName();
        var (onPool, workers) = await ComputeThreads.Run(() =>
        {
            RunParallelKernel();
            return (Thread.CurrentThread.IsThreadPoolThread, ThreadsNamed(name).Where(id => id != NativeThreadId()).ToList());
        }, name: name);

        Assert.False(onPool);
        Assert.Equal(TorchRuntime.Threads - 1, workers.Count);
        Assert.Empty(ThreadsNamed(name).Intersect(workers));
    }

    [Fact]
    public async Task FailuresAndCancellationReachTheCaller()
    {
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            ComputeThreads.Run(() => throw new InvalidOperationException("bad input")));
        Assert.Equal("bad input", failure.Message);

        using var cancellation = new CancellationTokenSource();
        var cancelled = ComputeThreads.Run(() =>
        {
            cancellation.Cancel();
            cancellation.Token.ThrowIfCancellationRequested();
        }, cancellation.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.True(cancelled.IsCanceled);
    }

    private static bool CanSeeTeams() => OperatingSystem.IsLinux() && TorchRuntime.Threads > 1;

    /// <summary>Linux keeps 15 characters of a thread's name.</summary>
    private static string UniqueName() => "team" + Guid.NewGuid().ToString("N")[..11];

    /// <summary>An element-wise kernel large enough for libtorch to split it over its threads.</summary>
    private static void RunParallelKernel()
    {
        using var x = randn(1 << 22);
        x.exp_();
    }

    private static List<int> ThreadsNamed(string name) =>
        Directory.EnumerateDirectories("/proc/self/task")
            .Select(task => (Id: int.Parse(Path.GetFileName(task)), Name: ReadName(task)))
            .Where(task => task.Name == name)
            .Select(task => task.Id)
            .ToList();

    private static string? ReadName(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
        }
        catch (IOException)
        {
            return null; // the thread ended while the folder was read
        }
    }

    private static int NativeThreadId() => int.Parse(File.ReadAllText("/proc/thread-self/stat").Split(' ')[0]);
}
