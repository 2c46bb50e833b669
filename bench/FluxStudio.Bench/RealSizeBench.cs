using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FluxStudio.Engine;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Bench;

/// <summary>
/// FLUX.1 schnell at real size with random weights (<see cref="RandomModelWriter"/>, written into the --real-size
/// folder when missing, and removed again after its runs): load time against a plain read of the files (weights mapped,
/// and read as before), seconds per step at 256² and 512², and the peak
/// resident memory of a 4-bit generation with and without low-memory mode and of an 8-bit one in low-memory mode.
/// Each configuration runs in a child process of its own, so that its peak is its own.
/// </summary>
public static class RealSizeBench
{
    public const string ChildFlag = "--real-size-child";
    private const string NoSizes = "-";
    private const long Overhead = 1_500_000_000;

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        if (options.RealSizeFolder is not { } root)
        {
            Console.WriteLine("    (skipped: give --real-size FOLDER; it needs up to 19 GB of disk and 20 GB of memory)");
            yield break;
        }
        int steps = options.Quick ? 2 : 4;
        string sizes = options.Quick ? "256" : "256,512", largest = sizes.Split(',')[^1];
        using (var q4 = RandomModel.Ensure(Path.Combine(root, "schnell-q4"), 4))
        {
            var full = RunChild(q4.Folder, lowMemory: false, sizes, steps);
            yield return new BenchResult("real 4-bit weight files", full.WeightBytes / 1e9, "GB", $"transformer {full.TransformerBytes / 1e9:F2} GB");
            foreach (var (size, seconds) in full.SecondsPerStep)
                yield return new BenchResult($"real 4-bit seconds per step at {size}²", seconds, "s", $"{steps} steps, first left out");
            yield return PeakResult("real 4-bit peak RSS", full, full.WeightBytes, "all parts loaded", largest);

            // Peak memory does not depend on the step count: two steps are enough.
            var low4 = RunChild(q4.Folder, lowMemory: true, largest, steps: 2);
            yield return PeakResult("real 4-bit --low-ram peak RSS", low4, low4.TransformerBytes, "low-memory mode", largest);
        }
        using (var q8 = RandomModel.Ensure(Path.Combine(root, "schnell-q8"), 8))
        {
            var low8 = RunChild(q8.Folder, lowMemory: true, largest, steps: 2);
            yield return PeakResult("real 8-bit --low-ram peak RSS", low8, low8.TransformerBytes, "low-memory mode", largest);
        }
    }

    /// <summary>Loading every part of the 4-bit model against a plain read of its files, with the files' pages mapped and read.</summary>
    public static IEnumerable<BenchResult> RunLoad(BenchOptions options)
    {
        if (options.RealSizeFolder is not { } root)
        {
            Console.WriteLine("    (skipped: give --real-size FOLDER; it needs 10 GB of disk and 11 GB of memory)");
            yield break;
        }
        using var q4 = RandomModel.Ensure(Path.Combine(root, "schnell-q4"), 4);
        // Each load in a fresh process, as a user's first image; the plain read just before it, in the same process.
        int rounds = options.Quick ? 2 : 3;
        var loads = Enumerable.Range(0, rounds)
            .Select(_ => (Mapped: RunChild(q4.Folder, lowMemory: false, NoSizes, 0), Read: RunChild(q4.Folder, lowMemory: false, NoSizes, 0, readWeights: true)))
            .ToList();
        double Median(Func<(ChildReport Mapped, ChildReport Read), double> value) => Timing.Median(loads.Select(value));
        var first = loads[0].Mapped;
        yield return new BenchResult("real 4-bit load / plain read of the files", Median(l => l.Mapped.ReadSeconds / l.Mapped.LoadSeconds), "ratio",
            $"goal ≥ 0.8; load {Median(l => l.Mapped.LoadSeconds):F2} s, read {Median(l => l.Mapped.ReadSeconds):F2} s of {first.WeightBytes / 1e9:F2} GB ({first.Precision}); a fresh process, median of {rounds}");
        yield return new BenchResult("the same, loaded again in the same process", Median(l => l.Mapped.WarmReadSeconds!.Value / l.Mapped.WarmLoadSeconds!.Value), "ratio",
            $"load {Median(l => l.Mapped.WarmLoadSeconds!.Value):F2} s, read {Median(l => l.Mapped.WarmReadSeconds!.Value):F2} s (the loading code already compiled)");
        yield return new BenchResult("the same, weights read into memory of their own", Median(l => l.Read.ReadSeconds / l.Read.LoadSeconds), "ratio",
            $"load {Median(l => l.Read.LoadSeconds):F1} s, read {Median(l => l.Read.ReadSeconds):F2} s (the files' pages not mapped, as before)");
    }

    /// <summary>The peak, and the peak over its budget (1.2 × the given files + 1.5 GB; goal ≤ 1).</summary>
    private static BenchResult PeakResult(string name, ChildReport report, long budgetFiles, string mode, string size) =>
        new(name, report.PeakResidentBytes / 1e9, "GB",
            $"{report.PeakResidentBytes / (1.2 * budgetFiles + Overhead):F2} of 1.2 × {budgetFiles / 1e9:F2} GB + 1.5 GB (goal ≤ 1); {mode}, {size}²");

    /// <summary>A model folder: one that exists is used as it is; one written for this run is removed after it.</summary>
    private sealed record RandomModel(string Folder, bool Written) : IDisposable
    {
        public static RandomModel Ensure(string folder, int bits)
        {
            if (Directory.Exists(folder)) return new RandomModel(folder, Written: false);
            Console.WriteLine($"    writing a random {bits}-bit FLUX.1 schnell to {folder} (removed after its runs) …");
            var clock = Stopwatch.StartNew();
            long bytes = RandomModelWriter.Write(folder, new RandomModelOptions { QuantizeBits = bits },
                new SynchronousProgress<string>(stage => Console.WriteLine($"      {stage}")));
            Console.WriteLine($"    ({bytes / 1e9:F1} GB in {clock.Elapsed.TotalSeconds:F0} s)");
            return new RandomModel(folder, Written: true);
        }

        public void Dispose()
        {
            if (Written) Directory.Delete(Folder, recursive: true);
        }
    }

    private sealed record ChildReport(long WeightBytes, long TransformerBytes, double ReadSeconds, double LoadSeconds,
        double? WarmReadSeconds, double? WarmLoadSeconds,
        Dictionary<string, double> SecondsPerStep, long PeakResidentBytes, string Precision);

    /// <param name="sizes">Image sizes to generate at, comma-separated; <see cref="NoSizes"/> only loads.</param>
    /// <param name="readWeights">Read the weights into memory of their own instead of mapping the files' pages.</param>
    private static ChildReport RunChild(string folder, bool lowMemory, string sizes, int steps, bool readWeights = false)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { typeof(RealSizeBench).Assembly.Location, ChildFlag, folder, lowMemory ? "low-ram" : "all", sizes,
                     steps.ToString(CultureInfo.InvariantCulture), readWeights ? "read" : "mapped" })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the bench's child process");
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (process.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"the real-size run of {folder} failed (exit code {process.ExitCode}): {output}");
        return JsonSerializer.Deserialize<ChildReport>(line)!;
    }

    /// <summary>The child: reads the files plainly, loads the model, generates at each size, then prints its report.</summary>
    public static int Child(string[] args)
    {
        string folder = args[1];
        bool lowMemory = args[2] == "low-ram";
        var sizes = args[3] == NoSizes ? [] : args[3].Split(',').Select(int.Parse).ToArray();
        int steps = int.Parse(args[4], CultureInfo.InvariantCulture);
        using var reading = args[5] == "read" ? WeightMapping.Disable() : null;

        // libtorch starts with the engine, not with a model: its start is not part of loading one.
        var target = ComputeTarget.Resolve("cpu", "auto");
        var files = Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.AllDirectories).ToList();
        var buffer = new byte[8 << 20];
        void ReadFiles()
        {
            foreach (var file in files)
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                while (stream.Read(buffer, 0, buffer.Length) > 0) { }
            }
        }
        // Only loading: a first read brings back whatever the page cache lost since (the previous run's memory may have
        // pushed it out), so that both the timed read and the load find the files in the page cache. Not before a
        // generation: pages read twice count as active, and in a memory-capped group as memory in use.
        if (sizes.Length == 0) ReadFiles();
        var clock = Stopwatch.StartNew();
        ReadFiles();
        double read = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder), target, lowMemory);
        double load = clock.Elapsed.TotalSeconds;
        // Only loading: the same again, now that the process has run the loading code once (a model loaded again after
        // another one, or after low-memory mode freed it).
        double? warmRead = null, warmLoad = null;
        if (sizes.Length == 0)
        {
            model.Dispose();
            clock.Restart();
            ReadFiles();
            warmRead = clock.Elapsed.TotalSeconds;
            clock.Restart();
            model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder), target, lowMemory);
            warmLoad = clock.Elapsed.TotalSeconds;
        }
        using var loaded = model;
        var pipeline = new FluxPipeline(model);
        var perStep = new Dictionary<string, double>();
        foreach (int size in sizes)
        {
            var stepEnds = new List<double>();
            var generation = Stopwatch.StartNew();
            pipeline.Generate(new FluxGenerationOptions { Prompt = "a lighthouse on a cliff at dusk", Seed = 1, Width = size, Height = size, Steps = steps },
                new SynchronousProgress<GenerationProgress>(p =>
                {
                    if (p.Stage == GenerationStage.Denoising && p.Step > 0) stepEnds.Add(generation.Elapsed.TotalSeconds);
                }));
            // The first step may include loading the transformer (low-memory mode): the others are the steady pace.
            perStep[size.ToString(CultureInfo.InvariantCulture)] = stepEnds.Count > 1
                ? (stepEnds[^1] - stepEnds[0]) / (stepEnds.Count - 1)
                : stepEnds[0];
            Console.Error.WriteLine($"      {size}²: {generation.Elapsed.TotalSeconds:F1} s");
        }
        var transformer = files.Where(f => Path.GetFileName(Path.GetDirectoryName(f)) == DiffusersFolder.Transformer).Sum(f => new FileInfo(f).Length);
        var report = new ChildReport(files.Sum(f => new FileInfo(f).Length), transformer, read, load, warmRead, warmLoad, perStep,
            PeakResidentBytes(), ComputeTarget.NameOf(model.Transformer.DType));
        Console.WriteLine(JsonSerializer.Serialize(report));
        return 0;
    }

    /// <summary>The process's peak resident memory (VmHWM), Linux only; 0 elsewhere.</summary>
    private static long PeakResidentBytes()
    {
        if (!File.Exists("/proc/self/status")) return 0;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
