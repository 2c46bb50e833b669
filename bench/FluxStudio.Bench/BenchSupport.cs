using System.Diagnostics;

namespace FluxStudio.Bench;

public sealed record BenchOptions(bool Quick, string? JsonPath, int? Threads, string? Only)
{
    public static BenchOptions Parse(string[] args)
    {
        bool quick = false;
        string? json = null, only = null;
        int? threads = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--json": json = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                default: throw new ArgumentException($"Unknown option {args[i]}; use --quick, --json PATH, --threads N, --only NAME.");
            }
        }
        return new BenchOptions(quick, json, threads, only);
    }
}

public sealed record BenchResult(string Name, double Value, string Unit, string Note = "");

public static class Timing
{
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
}
