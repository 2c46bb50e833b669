using System.Diagnostics;

namespace FluxStudio.Bench;

public sealed record BenchOptions(bool Quick, string? JsonPath, int? Threads, string? Only, string? RealSizeFolder, bool CpuTime)
{
    public static BenchOptions Parse(string[] args)
    {
        bool quick = false, cpuTime = false;
        string? json = null, only = null, realSize = null;
        int? threads = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--json": json = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--real-size": realSize = Path.GetFullPath(args[++i]); break;
                case "--cpu-time": cpuTime = true; break;
                default: throw new ArgumentException($"Unknown option {args[i]}; use --quick, --json PATH, --threads N, --only NAME, --real-size FOLDER, --cpu-time.");
            }
        }
        if (cpuTime && !ThreadCpuClock.IsAvailable)
            throw new ArgumentException("--cpu-time needs Linux (the calling thread's CPU clock).");
        return new BenchOptions(quick, json, threads, only, realSize, cpuTime);
    }
}

public sealed record BenchResult(string Name, double Value, string Unit, string Note = "");

/// <summary>
/// CPU time of the calling thread: with one libtorch thread (--threads 1) it counts the work done and not the time
/// other processes held the cores, so ratios stay meaningful on a busy machine.
/// </summary>
public static class ThreadCpuClock
{
    public static bool IsAvailable => OperatingSystem.IsLinux();

    public static double Milliseconds()
    {
        clock_gettime(ThreadCpuTimeId, out var time);
        return time.Seconds * 1e3 + time.Nanoseconds / 1e6;
    }

    private const int ThreadCpuTimeId = 3; // CLOCK_THREAD_CPUTIME_ID on Linux

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int clock_gettime(int clock, out TimeSpec time);
}

public static class Timing
{
    /// <summary>Set by --cpu-time: <see cref="Interleaved"/> then counts the calling thread's CPU time instead of wall time.</summary>
    public static bool UseThreadCpuTime { get; set; }

    /// <summary>Median wall time of <paramref name="runs"/> calls after <paramref name="warmups"/> unmeasured ones.</summary>
    public static TimeSpan Median(Action action, int runs, int warmups = 1)
    {
        for (int i = 0; i < warmups; i++) action();
        var times = new List<TimeSpan>(runs);
        for (int i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>
    /// Milliseconds of each action in each of <paramref name="rounds"/> rounds (after one unmeasured round): the
    /// actions run one after another within a round, so that load from other processes hits them alike and ratios
    /// taken round by round stay meaningful on a busy machine.
    /// </summary>
    public static double[][] Interleaved(IReadOnlyList<Action> actions, int rounds)
    {
        Func<double> now = UseThreadCpuTime ? ThreadCpuClock.Milliseconds : () => Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;
        var times = actions.Select(_ => new double[rounds]).ToArray();
        for (int round = -1; round < rounds; round++)
            for (int i = 0; i < actions.Count; i++)
            {
                double start = now();
                actions[i]();
                if (round >= 0) times[i][round] = now() - start;
            }
        return times;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>The median over rounds of <paramref name="ratio"/>(round).</summary>
    public static double MedianRatio(int rounds, Func<int, double> ratio) => Median(Enumerable.Range(0, rounds).Select(ratio));
}
