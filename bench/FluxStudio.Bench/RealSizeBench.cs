using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FluxStudio.Engine;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Bench;

/// <summary>
/// FLUX.1 schnell at real size with random weights (<see cref="RandomModelWriter"/>, written into the --real-size
/// folder when missing, and removed again after its runs): load time against a plain read of the files, seconds per step at 256² and 512², and the peak
/// resident memory of a 4-bit generation with and without low-memory mode and of an 8-bit one in low-memory mode.
/// Each configuration runs in a child process of its own, so that its peak is its own.
/// </summary>
public static class RealSizeBench
{
    public const string ChildFlag = "--real-size-child";
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
            yield return new BenchResult("real 4-bit load / plain read of the files", full.ReadSeconds / full.LoadSeconds, "ratio",
                $"goal ≥ 0.8; load {full.LoadSeconds:F1} s, read {full.ReadSeconds:F1} s ({full.Precision})");
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
        Dictionary<string, double> SecondsPerStep, long PeakResidentBytes, string Precision);

    private static ChildReport RunChild(string folder, bool lowMemory, string sizes, int steps)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { typeof(RealSizeBench).Assembly.Location, ChildFlag, folder, lowMemory ? "low-ram" : "all", sizes, steps.ToString(CultureInfo.InvariantCulture) })
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
        var sizes = args[3].Split(',').Select(int.Parse).ToArray();
        int steps = int.Parse(args[4], CultureInfo.InvariantCulture);

        var files = Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.AllDirectories).ToList();
        var buffer = new byte[8 << 20];
        var clock = Stopwatch.StartNew();
        foreach (var file in files)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            while (stream.Read(buffer, 0, buffer.Length) > 0) { }
        }
        double read = clock.Elapsed.TotalSeconds;

        clock.Restart();
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder), ComputeTarget.Resolve("cpu", "auto"), lowMemory);
        double load = clock.Elapsed.TotalSeconds;
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
        var report = new ChildReport(files.Sum(f => new FileInfo(f).Length), transformer, read, load, perStep, PeakResidentBytes(),
            ComputeTarget.NameOf(model.Transformer.DType));
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
