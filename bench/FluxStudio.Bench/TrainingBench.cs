using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Engine.Training;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// One LoRA training step (forward, backward, AdamW) against one plain forward pass of the same transformer on the same
/// example: time and the peak memory each adds to the weights, with the blocks' activations kept for the backward pass
/// and with blocks recomputed in it. The LoRA is the original app's default: rank 4 on every single block's q, k, v, MLP
/// input and output projection. Models: the tiny test model, and FLUX.1-width slices (hidden 3072) in bf16, dense and
/// 8-bit, with one double block and one or three single blocks; the difference between the two depths gives the memory
/// each further single block adds, and so an estimate for FLUX.1's 38.
/// </summary>
public static class TrainingBench
{
    private sealed record Measurement(List<BenchResult> Results, Dictionary<bool, long> StepPeaks);

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        int runs = options.Quick ? 1 : 3;
        foreach (var result in Measure("tiny", TinyModelWriter.TransformerConfig(dev: true), ScalarType.Float32, null, (96, 512), runs).Results)
            yield return result;

        var tokens = options.Quick ? (Image: 256, Text: 128) : (Image: 1024, Text: 512);
        var one = Measure("slice 1+1 bf16", Slice(1), ScalarType.BFloat16, null, tokens, runs);
        var three = Measure("slice 1+3 bf16", Slice(3), ScalarType.BFloat16, null, tokens, runs);
        var quantized = Measure("slice 1+1 8-bit", Slice(1), ScalarType.BFloat16, 8, tokens, runs);
        foreach (var result in one.Results.Concat(three.Results).Concat(quantized.Results))
            yield return result;

        int more = FluxConfig.Dev.DepthSingleBlocks - 1;
        foreach (bool recompute in new[] { false, true })
        {
            long perBlock = (three.StepPeaks[recompute] - one.StepPeaks[recompute]) / 2;
            long estimate = one.StepPeaks[recompute] + more * perBlock;
            yield return new BenchResult($"train FLUX.1 step memory above weights, {Mode(recompute)}", estimate / 1e9, "GB",
                $"estimate: slice 1+1 plus {more} × {perBlock / 1e6:N0} MB per further single block, {tokens.Image}+{tokens.Text} tokens, bf16");
        }
    }

    private static FluxConfig Slice(int singleBlocks) => FluxConfig.Dev with { Depth = 1, DepthSingleBlocks = singleBlocks };

    private static string Mode(bool recompute) => recompute ? "recomputed blocks" : "kept activations";

    private static Measurement Measure(string name, FluxConfig config, ScalarType dtype, int? bits, (int Image, int Text) tokens, int runs)
    {
        var results = new List<BenchResult>();
        using var scope = NewDisposeScope();
        using var model = new FluxTransformer(config, dtype);
        Initialization.Randomize(model, new Generator(7));
        if (bits is { } b) Quantizer.QuantizeModule(model, b);
        var generator = new Generator(11);
        int rows = (int)Math.Sqrt(tokens.Image), columns = tokens.Image / rows;
        using var example = new TrainingExample(randn([1, config.InChannels / 4, 2 * rows, 2 * columns], generator: generator),
            new TextConditioning(randn([1, tokens.Text, config.ContextInDim], generator: generator).to(dtype),
                LatentPacking.TextIds(1, tokens.Text), randn([1, config.VecInDim], generator: generator).to(dtype)));
        using var draw = new NoiseDraw(3, randn(example.CleanLatent.shape, generator: generator));
        var layers = LoraLayersConfig.OriginalDefault with
        {
            SingleTransformerBlocks = LoraLayersConfig.OriginalDefault.SingleTransformerBlocks! with { BlockRange = new BlockRange(0, config.DepthSingleBlocks) },
        };

        // One LoRA, trained with or without recomputation by switching the transformer's block runner between rounds.
        var lora = TrainableLora.Create(model, layers, 1);
        using var trainer = new LoraTrainer(lora, new AdamW(lora.Parameters, new AdamWSettings(1e-4)), new TrainerSettings(20, 3.0, RecomputeBlocks: false));
        var checkpointing = new BlockCheckpointing(lora.FactorsByBlock());
        void Forward()
        {
            using var inner = NewDisposeScope();
            using var _ = no_grad();
            trainer.Objective.Forward(example, draw);
        }
        Action Step(bool recompute) => () =>
        {
            model.BlockRunner = recompute ? checkpointing : null;
            trainer.Step([example], [draw]);
            model.BlockRunner = null;
        };
        var variants = new (string Name, Action Run)[] { ("forward", Forward), (Mode(false), Step(false)), (Mode(true), Step(true)) };

        var peaks = variants.Select(variant =>
        {
            variant.Run();
            return PeakMemory.Added(variant.Run);
        }).ToArray();
        // Interleaved, so that load from other processes hits all three alike.
        var times = variants.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < runs; round++)
        {
            for (int i = 0; i < variants.Length; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                variants[i].Run();
                times[i].Add(clock.Elapsed.TotalMilliseconds);
            }
        }
        double[] medians = [.. times.Select(list => list.Order().ElementAt(list.Count / 2))];

        long forwardPeak = peaks[0];
        results.Add(new BenchResult($"train {name} forward", medians[0], "ms",
            $"{tokens.Image}+{tokens.Text} tokens, no gradient, peak +{forwardPeak / 1e6:N0} MB"));
        var stepPeaks = new Dictionary<bool, long>();
        foreach (bool recompute in new[] { false, true })
        {
            int i = recompute ? 2 : 1;
            stepPeaks[recompute] = peaks[i];
            results.Add(new BenchResult($"train {name} step, {Mode(recompute)}", medians[i], "ms",
                $"peak +{peaks[i] / 1e6:N0} MB; {lora.Parameters.Sum(p => p.Factor.numel()):N0} LoRA parameters"));
            results.Add(new BenchResult($"train {name} step / forward, {Mode(recompute)}", medians[i] / medians[0], "ratio",
                $"peak memory {(double)peaks[i] / Math.Max(1, forwardPeak):N2}× the forward's"));
        }
        return new Measurement(results, stepPeaks);
    }
}
