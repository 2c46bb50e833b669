using System.Diagnostics;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Bench;

/// <summary>
/// A batch of images from one prompt: prepared once (the prompt encoded once) and generated per seed, against the same
/// images generated one request at a time, interleaved round by round.
/// </summary>
public static class BatchBench
{
    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        var folder = Directory.CreateTempSubdirectory("fluxstudio-bench-batch-").FullName;
        try
        {
            TinyModelWriter.Write(Path.Combine(folder, "model"), dev: true, seed: 3);
            using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(Path.Combine(folder, "model")), ComputeTarget.Cpu, lowMemory: false);
            var pipeline = new FluxPipeline(model);
            int side = options.Quick ? 64 : 128, rounds = options.Quick ? 3 : 7;
            ulong[] seeds = [1, 2, 3, 4];
            var request = new FluxGenerationOptions { Prompt = "a lighthouse on a cliff at dusk", Width = side, Height = side, Steps = 4 };

            void Batch()
            {
                using var prepared = pipeline.Prepare(request);
                foreach (var seed in seeds) prepared.Generate(seed);
            }
            void OneByOne()
            {
                foreach (var seed in seeds) pipeline.Generate(request with { Seed = seed });
            }

            Batch();
            OneByOne();
            var (batch, separate) = (new List<double>(), new List<double>());
            for (int round = 0; round < rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                Batch();
                batch.Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                OneByOne();
                separate.Add(clock.Elapsed.TotalMilliseconds);
            }
            double Median(List<double> times) => times.Order().ElementAt(times.Count / 2);
            yield return new BenchResult($"tiny batch of {seeds.Length}, {side}² × 4 steps, prepared once", Median(batch), "ms");
            yield return new BenchResult($"  the same {seeds.Length} images one request at a time", Median(separate), "ms");
            yield return new BenchResult("batch / one at a time", Median(batch) / Median(separate), "ratio",
                "the prompt is encoded once instead of once per image");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
