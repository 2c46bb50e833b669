using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// Resident weight bytes and forward time of a quantized FLUX.1-width transformer slice (hidden 3072, one double and
/// one single block, random weights) against the same slice in bf16, both computing in bf16. The slice's embedders and
/// final layer, which stay dense, weigh far more in it than in the full model, so the bytes are also given scaled to
/// FLUX.1's depth. Quantized layers
/// dequantize on the fly in blocks (TorchSharp 0.107 exposes no integer matmul kernels such as _weight_int8pack_mm).
/// </summary>
public static class QuantizationBench
{
    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        foreach (var result in LayerRatios(options)) yield return result;
        int runs = options.Quick ? 2 : 5;
        using var slice = new TransformerSlice(options);
        static FluxTransformer Model() => TransformerSlice.RandomModel(ScalarType.BFloat16);
        TimeSpan Time(FluxTransformer model) => slice.Time(model, runs);

        long denseBytes, denseFullBytes;
        TimeSpan denseTime;
        Tensor denseOutput;
        using (var dense = Model())
        {
            denseBytes = Quantizer.ResidentBytes(dense);
            denseFullBytes = FullDepthBytes(dense);
            denseTime = Time(dense);
            denseOutput = slice.Forward(dense).to(ScalarType.Float32);
        }
        string tokens = slice.Tokens;
        yield return new BenchResult("quant bf16 slice weights", denseBytes / 1e6, "MB");
        yield return new BenchResult("quant bf16 slice forward", denseTime.TotalMilliseconds, "ms", tokens);

        foreach (var bits in new[] { 8, 4 })
        {
            using var model = Model();
            var report = Quantizer.QuantizeModule(model, bits);
            long bytes = Quantizer.ResidentBytes(model);
            var time = Time(model);
            double error;
            using (no_grad())
            {
                using var output = slice.Forward(model).to(ScalarType.Float32);
                error = ((output - denseOutput).norm() / denseOutput.norm()).item<float>();
            }
            yield return new BenchResult($"quant {bits}-bit weights / bf16, full depth", (double)FullDepthBytes(model) / denseFullBytes, "ratio",
                $"goal ≤ {(bits == 4 ? "0.30" : "0.55")}; FLUX.1's 19 + 38 blocks, from the slice's measured block bytes");
            yield return new BenchResult($"quant {bits}-bit weights / bf16, slice", (double)bytes / denseBytes, "ratio",
                $"{report.QuantizedGroupSizes.Count} layers quantized, {report.LeftDense.Count} dense (embedders, final layer)");
            yield return new BenchResult($"quant {bits}-bit forward / bf16", time / denseTime, "ratio",
                $"{time.TotalMilliseconds:N0} ms, blocks of at most {QuantizedWeight.DefaultBlockElements >> 20} Mi weights");
            yield return new BenchResult($"quant {bits}-bit output relative error", error, "ratio", "vs bf16, same weights");
        }
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
        var weight = (randn([9216, 3072], generator: generator) / Math.Sqrt(3072)).to(ScalarType.BFloat16);
        int tokens = options.Quick ? 320 : 1280;
        var input = randn([1, tokens, 3072], generator: generator).to(ScalarType.BFloat16);
        using var _ = no_grad();
        int rounds = options.Quick ? 5 : 11;
        foreach (var bits in new[] { 8, 4 })
        {
            var quantized = QuantizedWeight.Quantize(weight, bits, 64);
            var dense = new List<double>();
            var blocked = new List<double>();
            for (int i = 0; i <= rounds; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                nn.functional.linear(input, weight).Dispose();
                double denseMs = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                quantized.Linear(input, null).Dispose();
                double quantizedMs = clock.Elapsed.TotalMilliseconds;
                if (i == 0) continue; // warm-up
                dense.Add(denseMs);
                blocked.Add(quantizedMs);
            }
            dense.Sort();
            blocked.Sort();
            double denseMedian = dense[dense.Count / 2], quantizedMedian = blocked[blocked.Count / 2];
            yield return new BenchResult($"quant {bits}-bit layer forward / bf16", quantizedMedian / denseMedian, "ratio",
                $"9216×3072 on {tokens} tokens: {quantizedMedian:N1} vs {denseMedian:N1} ms");
        }
    }
}
