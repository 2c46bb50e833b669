using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// One forward of a FLUX.1-width transformer slice (hidden 3072, 24 heads of 128, one double and one single block)
/// on 1024 image and 256 text tokens, random weights: time, analytic FLOPs, and the fraction of matmul peak.
/// </summary>
public static class TransformerBench
{
    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        using var slice = new TransformerSlice(options);
        double flops = ForwardFlops(TransformerSlice.Config, slice.ImageTokens, slice.TextTokens);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = TransformerSlice.RandomModel(dtype);
            var time = slice.Time(model, runs: options.Quick ? 2 : 5);
            double achieved = flops / time.TotalSeconds / 1e9;
            string name = MatmulBench.Name(dtype);
            yield return new BenchResult($"transformer slice forward {name}", time.TotalMilliseconds, "ms",
                $"{slice.Tokens}, {flops / 1e9:N1} GFLOP");
            yield return new BenchResult($"transformer slice {name}", achieved, "GFLOP/s");
            if (MatmulBench.Peak(dtype) > 0)
                yield return new BenchResult($"transformer slice {name} / matmul peak", achieved / MatmulBench.Peak(dtype), "ratio", "goal ≥ 0.90");
        }
    }

    /// <summary>Multiply-adds of every linear map and of attention (q·kᵀ and attention·v), × 2.</summary>
    public static double ForwardFlops(FluxConfig config, int imageTokens, int textTokens)
    {
        double h = config.HiddenSize, mlp = config.MlpHiddenDim, joint = imageTokens + textTokens;
        double Linear(double tokens, double inFeatures, double outFeatures) => 2 * tokens * inFeatures * outFeatures;
        double Attention(double tokens) => 2 * 2 * tokens * tokens * h;

        double embed = Linear(imageTokens, config.InChannels, h) + Linear(textTokens, config.ContextInDim, h)
            + 2 * (Linear(1, 256, h) + Linear(1, h, h)) + Linear(1, config.VecInDim, h) + Linear(1, h, h);
        double stream(double tokens) => Linear(tokens, h, 3 * h) + Linear(tokens, h, h) + Linear(tokens, h, mlp) + Linear(tokens, mlp, h);
        double doubleBlock = stream(imageTokens) + stream(textTokens) + Attention(joint) + 2 * Linear(1, h, 6 * h);
        double singleBlock = Linear(joint, h, 3 * h + mlp) + Linear(joint, h + mlp, h) + Attention(joint) + Linear(1, h, 3 * h);
        double final = Linear(1, h, 2 * h) + Linear(imageTokens, h, config.OutChannels);
        return embed + config.Depth * doubleBlock + config.DepthSingleBlocks * singleBlock + final;
    }
}
