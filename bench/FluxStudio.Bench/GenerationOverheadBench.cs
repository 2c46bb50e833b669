using FluxStudio.Engine;
using System.Diagnostics;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.TinyModel;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// A whole tiny-model generation against the sum of its modules' own times (text encoding, each transformer step,
/// VAE decode) measured alone on the same inputs: what the pipeline adds around the models.
/// </summary>
public static class GenerationOverheadBench
{
    private static readonly Scalar Timestep = 0.5f, Guidance = 3.5f;

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        var folder = Directory.CreateTempSubdirectory("fluxstudio-bench-tiny-").FullName;
        try
        {
            TinyModelWriter.Write(Path.Combine(folder, "model"), dev: true, seed: 3);
            using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(Path.Combine(folder, "model")), ComputeTarget.Cpu, lowMemory: false);
            var pipeline = new FluxPipeline(model);
            int side = options.Quick ? 64 : 128, steps = 4, runs = options.Quick ? 3 : 9;
            var request = new FluxGenerationOptions { Prompt = "a lighthouse on a cliff at dusk", Seed = 7, Width = side, Height = side, Steps = steps };

            // Where the time goes inside Generate, from the progress reports' timestamps.
            var marks = new List<(string Stage, double Ms)>();
            var stopwatch = Stopwatch.StartNew();
            pipeline.Generate(request, new SynchronousProgress<GenerationProgress>(p => marks.Add(($"{p.Stage} {p.Step}", stopwatch.Elapsed.TotalMilliseconds))));
            double end = stopwatch.Elapsed.TotalMilliseconds;
            var spans = marks.Zip(marks.Skip(1).Select(m => m.Ms).Append(end), (m, next) => $"{m.Stage}: {next - m.Ms:F1}");
            yield return new BenchResult("  inside Generate", end, "ms", string.Join(", ", spans));

            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var text = pipeline.EncodePrompt(request.Prompt);
            var noise = pipeline.PrepareNoise(7, side, side);
            var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
            var latent = LatentPacking.Pack(noise);
            var ids = LatentPacking.ImageIds(1, rows, columns);
            var t = full([1], Timestep);
            var g = full([1], Guidance);
            void Scoped(Action action)
            {
                using var inner = NewDisposeScope();
                action();
            }
            // A whole generation and each of its modules alone, round after round.
            var times = Timing.Interleaved(
            [
                () => Scoped(() => pipeline.Generate(request)),
                () => Scoped(() => pipeline.EncodePrompt(request.Prompt)),
                () => Scoped(() => model.Transformer.Forward(latent, ids, text.Features, text.Ids, t, text.Pooled, g)),
                () => Scoped(() => pipeline.Decode(latent, rows, columns)),
            ], runs);
            double Sum(int round) => times[1][round] + steps * times[2][round] + times[3][round];

            // The same work stage by stage, to see where a gap between the two comes from.
            double tokenize = 0, encodeText = 0, denoise = 0, decodeImage = 0;
            for (int run = 0; run < runs; run++)
            {
                using var inner = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                var clip = model.Tokenizers.Clip.Tokenize(request.Prompt);
                var t5 = model.Tokenizers.T5.Tokenize(request.Prompt, model.Config.T5SequenceLength);
                tokenize += clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                var conditioning = model.Encode(clip.Ids, t5.Ids);
                encodeText += clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                var final = EulerSampler.Denoise(model.Transformer, latent, ids, conditioning,
                    pipeline.Schedule(steps, (int)(rows * columns)), 3.5f);
                denoise += clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                ImageConversion.ToRgb(pipeline.Decode(final, rows, columns));
                decodeImage += clock.Elapsed.TotalMilliseconds;
            }
            yield return new BenchResult("  stages in order (mean)", (tokenize + encodeText + denoise + decodeImage) / runs, "ms",
                $"tokenize {tokenize / runs:F1}, encode {encodeText / runs:F1}, denoise {denoise / runs:F1}, decode {decodeImage / runs:F1}");

            yield return new BenchResult($"tiny generation {side}² × {steps} steps", Timing.Median(times[0]), "ms");
            yield return new BenchResult("  sum of module times", Timing.Median(Enumerable.Range(0, runs).Select(Sum)), "ms",
                $"encode {Timing.Median(times[1]):F1} + {steps} × {Timing.Median(times[2]):F1} + decode {Timing.Median(times[3]):F1}");
            yield return new BenchResult("tiny generation / sum of modules", Timing.MedianRatio(runs, r => times[0][r] / Sum(r)), "ratio",
                $"goal ≤ 1.10; median of {runs} interleaved rounds");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
