using System.Diagnostics;
using System.Text.Json;
using FluxStudio.Bench;
using FluxStudio.Engine.Devices;
using static TorchSharp.torch;

// FluxStudio benchmarks: medians after warm-up, ratios measured side by side in one run.
//   dotnet run -c Release --project bench/FluxStudio.Bench [-- --quick] [--json PATH] [--threads N] [--only NAME,NAME]
//       [--real-size FOLDER] [--cpu-time (with --threads 1: CPU time of the work, for a busy machine)]
if (args.FirstOrDefault() == RealSizeBench.ChildFlag) return RealSizeBench.Child(args);
if (args.Length > 0 && args[0] == MemoryBench.ChildCommand) return MemoryBench.Child(args[1..]);
var options = BenchOptions.Parse(args);
if (options.Threads is { } threads) set_num_threads(threads);
Timing.UseThreadCpuTime = options.CpuTime;
Console.WriteLine($"FluxStudio bench on {Environment.ProcessorCount} logical CPUs: {TorchRuntime.Describe()}{(options.Quick ? " (quick)" : "")}{(options.CpuTime ? ", timing the calling thread's CPU time" : "")}");

var results = new List<BenchResult>();
void Run(string name, Func<BenchOptions, IEnumerable<BenchResult>> bench)
{
    if (options.Only != null && !options.Only.Split(',').Any(only => name.Contains(only.Trim(), StringComparison.OrdinalIgnoreCase))) return;
    Console.WriteLine($"- {name} …");
    var clock = Stopwatch.StartNew();
    foreach (var result in bench(options))
    {
        results.Add(result);
        Console.WriteLine($"    {result.Name,-52} {result.Value,14:N3} {result.Unit,-10} {result.Note}");
    }
    Console.WriteLine($"  ({clock.Elapsed.TotalSeconds:F1} s)");
}

Run("matmul peak", MatmulBench.Run);
Run("transformer slice", TransformerBench.Run);
Run("safetensors load", LoadBench.Run);
Run("generation overhead", GenerationOverheadBench.Run);
Run("batch", BatchBench.Run);
Run("history store", HistoryBench.Run);
Run("quantization", QuantizationBench.Run);
Run("memory by size", MemoryBench.Run);
Run("training step", TrainingBench.Run);
Run("real size load", RealSizeBench.RunLoad);
Run("real size", RealSizeBench.Run);

if (options.JsonPath != null)
{
    var document = new
    {
        machine = new { logicalCpus = Environment.ProcessorCount, torchThreads = get_num_threads(), libtorch = TorchRuntime.LibTorchVersion },
        quick = options.Quick,
        cpuTime = options.CpuTime,
        results,
    };
    File.WriteAllText(options.JsonPath, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"Wrote {options.JsonPath}");
}
return 0;
