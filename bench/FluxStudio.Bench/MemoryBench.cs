using System.Diagnostics;
using System.Globalization;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// Peak memory of whole tiny-model generations (fp32, 4 steps, low-memory mode as on the CPU by default) at growing
/// sizes, each in a fresh process as a user would run it, beside the engine's own estimate: the growth law (with the
/// pixels, not their square) and how much room the estimate leaves.
/// </summary>
public static class MemoryBench
{
    public const string ChildCommand = "memory-child";

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        var folder = Directory.CreateTempSubdirectory("fluxstudio-bench-memory-").FullName;
        try
        {
            var model = Path.Combine(folder, "model");
            TinyModelWriter.Write(model, dev: false, seed: 3);
            var footprint = ModelFootprint.Read(ModelLocator.FromDiffusersFolder(model), ScalarType.Float32, null);
            int[] sides = options.Quick ? [128, 256, 384] : [128, 256, 384, 512];
            var grown = new List<(int Side, long Growth)>();
            foreach (var side in sides)
            {
                var (before, peak) = Measure(model, side);
                var estimate = GenerationMemory.Estimate(footprint, new MemoryRequest(side, side, LowMemory: true)).TotalBytes;
                grown.Add((side, peak - before));
                yield return new BenchResult($"tiny generation {side}² peak RSS", peak / 1e6, "MB",
                    $"{(peak - before) / 1e6:F0} MB above the loaded model; estimate {estimate / 1e6:F0} MB");
            }
            // With linear growth the increments scale like the pixel counts: (s₃² − s₁²) / (s₂² − s₁²).
            var (first, second, last) = (grown[0], grown[1], grown[^1]);
            double Pixels(int side) => (double)side * side;
            double linear = (Pixels(last.Side) - Pixels(first.Side)) / (Pixels(second.Side) - Pixels(first.Side));
            double quadratic = (Pixels(last.Side) * Pixels(last.Side) - Pixels(first.Side) * Pixels(first.Side))
                               / (Pixels(second.Side) * Pixels(second.Side) - Pixels(first.Side) * Pixels(first.Side));
            yield return new BenchResult($"growth {first.Side}²→{last.Side}² / {first.Side}²→{second.Side}²",
                (double)(last.Growth - first.Growth) / (second.Growth - first.Growth), "ratio",
                $"linear in pixels: {linear:F1}, quadratic: {quadratic:F1}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs one generation in a fresh process; its resident set once the model is loaded, and its peak.</summary>
    private static (long Before, long Peak) Measure(string model, int side)
    {
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(MemoryBench).Assembly.Location);
        foreach (var argument in new[] { ChildCommand, model, side.ToString(CultureInfo.InvariantCulture) }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"the {side}² generation failed ({process.ExitCode}): {output}");
        var figures = output.Trim().Split(' ').Select(long.Parse).ToArray();
        return (figures[0], figures[1]);
    }

    /// <summary>The child: loads the model at <c>args[0]</c>, generates one <c>args[1]</c>² image, prints "before peak" in bytes.</summary>
    public static int Child(string[] args)
    {
        int side = int.Parse(args[1], CultureInfo.InvariantCulture);
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(args[0]), ComputeTarget.Cpu, lowMemory: true);
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        long before = self.WorkingSet64;
        new FluxPipeline(model).Generate(new FluxGenerationOptions { Prompt = "a lighthouse at dusk", Seed = 7, Width = side, Height = side, Steps = 4 });
        self.Refresh();
        Console.WriteLine($"{before} {self.PeakWorkingSet64}");
        return 0;
    }
}
