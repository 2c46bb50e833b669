using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// Resident weight bytes and forward time of a quantized FLUX.1-width transformer slice (hidden 3072, one double and
/// one single block, random weights) against the same slice in bf16, both computing in bf16. The slice's embedders and
/// final layer, which stay dense, weigh far more in it than in the full model, so the bytes are also given scaled to
/// FLUX.1's depth. Quantized layers dequantize on the fly into reused memory (TorchSharp 0.107 exposes no integer
/// matmul kernels such as _weight_int8pack_mm). The three slices run in interleaved rounds.
/// </summary>
public static class QuantizationBench
{
    private static readonly Scalar SqrtInFeatures = Math.Sqrt(3072);

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        foreach (var result in LayerRatios(options)) yield return result;
        int rounds = options.Quick ? 3 : 7;
        using var slice = new TransformerSlice(options);
        int[] widths = [8, 4];
        using var dense = TransformerSlice.RandomModel(ScalarType.BFloat16);
        var quantized = widths.Select(_ => TransformerSlice.RandomModel(ScalarType.BFloat16)).ToArray();
        try
        {
            var reports = quantized.Zip(widths, (model, bits) => Quantizer.QuantizeModule(model, bits)).ToArray();
            var times = Timing.Interleaved([() => slice.Run(dense), .. quantized.Select(model => (Action)(() => slice.Run(model)))], rounds);

            long denseBytes = Quantizer.ResidentBytes(dense), denseFullBytes = FullDepthBytes(dense);
            yield return new BenchResult("quant bf16 slice weights", denseBytes / 1e6, "MB");
            yield return new BenchResult("quant bf16 slice forward", Timing.Median(times[0]), "ms", slice.Tokens);
            using var denseOutput = Output(slice, dense);
            for (int i = 0; i < widths.Length; i++)
            {
                int bits = widths[i];
                var model = quantized[i];
                double error;
                using (var output = Output(slice, model))
                    error = ((output - denseOutput).norm() / denseOutput.norm()).item<float>();
                yield return new BenchResult($"quant {bits}-bit weights / bf16, full depth", (double)FullDepthBytes(model) / denseFullBytes, "ratio",
                    $"goal ≤ {(bits == 4 ? "0.30" : "0.55")}; FLUX.1's 19 + 38 blocks, from the slice's measured block bytes");
                yield return new BenchResult($"quant {bits}-bit weights / bf16, slice", (double)Quantizer.ResidentBytes(model) / denseBytes, "ratio",
                    $"{reports[i].QuantizedGroupSizes.Count} layers quantized, {reports[i].LeftDense.Count} dense (embedders, final layer)");
                yield return new BenchResult($"quant {bits}-bit forward / bf16", Timing.MedianRatio(rounds, r => times[i + 1][r] / times[0][r]), "ratio",
                    $"goal ≤ 1.25; {Timing.Median(times[i + 1]):N0} ms; median of {rounds} interleaved rounds");
                yield return new BenchResult($"quant {bits}-bit output relative error", error, "ratio", "vs bf16, same weights");
            }
        }
        finally
        {
            foreach (var model in quantized) model.Dispose();
        }
    }

    private static Tensor Output(TransformerSlice slice, FluxTransformer model)
    {
        using var _ = no_grad();
        using var output = slice.Forward(model);
        return output.to(ScalarType.Float32);
    }

    /// <summary>
    /// Resident bytes FLUX.1 would take with this slice's blocks: its embedders and final layer, the size of the full
    /// model's, plus its one double and one single block counted as many times as FLUX.1 has them.
    /// </summary>
    private static long FullDepthBytes(FluxTransformer slice)
    {
        long doubleBlock = Quantizer.ResidentBytes(slice.double_blocks[0]);
        long singleBlock = Quantizer.ResidentBytes(slice.single_blocks[0]);
        long rest = Quantizer.ResidentBytes(slice) - doubleBlock - singleBlock;
        return rest + FluxConfig.Dev.Depth * doubleBlock + FluxConfig.Dev.DepthSingleBlocks * singleBlock;
    }

    /// <summary>
    /// One 3072→9216 layer (a FLUX.1 qkv projection) on 320 (quick) or 1280 tokens, dense bf16 and quantized timed in alternation so
    /// that load from other processes hits both alike.
    /// </summary>
    private static IEnumerable<BenchResult> LayerRatios(BenchOptions options)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        var weight = (randn([9216, 3072], generator: generator) / SqrtInFeatures).to(ScalarType.BFloat16);
        int tokens = options.Quick ? 320 : 1280;
        var input = randn([1, tokens, 3072], generator: generator).to(ScalarType.BFloat16);
        using var _ = no_grad();
        int rounds = options.Quick ? 5 : 11;
        foreach (var bits in new[] { 8, 4 })
        {
            var quantized = QuantizedWeight.Quantize(weight, bits, 64);
            var times = Timing.Interleaved([() => nn.functional.linear(input, weight).Dispose(), () => quantized.Linear(input, null).Dispose()], rounds);
            yield return new BenchResult($"quant {bits}-bit layer forward / bf16", Timing.MedianRatio(rounds, r => times[1][r] / times[0][r]), "ratio",
                $"9216×3072 on {tokens} tokens: {Timing.Median(times[1]):N1} vs {Timing.Median(times[0]):N1} ms");
        }
    }
}
