using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Memory;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// One forward of a FLUX.1-width transformer slice (hidden 3072, 24 heads of 128, one double and one single block)
/// on 1024 image and 256 text tokens, random weights: time, analytic FLOPs, and the fraction of libtorch's matmul
/// peak, the peak measured in the same rounds as the slice (a 2048³ product, fastest of three per round), all on a
/// thread of their own as in the studio.
/// </summary>
public static class TransformerBench
{
    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        using var slice = new TransformerSlice(options);
        double flops = ForwardFlops(TransformerSlice.Config, slice.ImageTokens, slice.TextTokens);
        int n = options.Quick ? 1024 : 2048, rounds = options.Quick ? 3 : 7;
        double peakFlops = 2.0 * n * n * n;
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = TransformerSlice.RandomModel(dtype);
            using var a = randn([n, n]).to(dtype);
            using var b = randn([n, n]).to(dtype);
            void Product() => matmul(a, b).Dispose();
            // As in a generation's denoising loop: freed activations' pages serve the next forward.
            using var keep = NativeHeap.KeepFreedPages();
            // Setting up ran on this thread; in the studio no idle OpenMP team is left behind (see ComputeThreads).
            ComputeThreads.ReleaseTeam();
            // bf16 is the precision short of the goal: its rounds also time the slice's parts alone, to say where the rest goes.
            using var parts = dtype == ScalarType.BFloat16 ? new SliceParts(slice, model) : null;
            List<Action> actions = [Product, Product, Product, () => slice.Run(model)];
            if (parts != null) actions.AddRange([parts.RunLinearLayers, parts.RunAttention]);
            var times = OnThreadOfItsOwn(() => Timing.Interleaved(actions, rounds));
            double PeakMs(int round) => Math.Min(times[0][round], Math.Min(times[1][round], times[2][round]));
            double sliceMs = Timing.Median(times[3]);
            double peak = peakFlops / Timing.Median(Enumerable.Range(0, rounds).Select(PeakMs)) / 1e6;
            string name = MatmulBench.Name(dtype);
            yield return new BenchResult($"transformer slice forward {name}", sliceMs, "ms", $"{slice.Tokens}, {flops / 1e9:N1} GFLOP");
            yield return new BenchResult($"transformer slice {name}", flops / sliceMs / 1e6, "GFLOP/s");
            yield return new BenchResult($"matmul {n}³ {name}, in the same rounds", peak, "GFLOP/s", "fastest of 3 per round");
            yield return new BenchResult($"transformer slice {name} / matmul peak",
                Timing.MedianRatio(rounds, r => flops / times[3][r] / (peakFlops / PeakMs(r))), "ratio", $"goal ≥ 0.90; median of {rounds} rounds");
            if (parts == null) continue;
            yield return new BenchResult($"transformer slice {name}: its linear layers alone / matmul peak",
                Timing.MedianRatio(rounds, r => parts.LinearFlops / times[4][r] / (peakFlops / PeakMs(r))), "ratio", $"{parts.LinearLayerCount} layers, each on its rows");
            double Share(Func<int, double> partMs) => Timing.MedianRatio(rounds, r => partMs(r) / times[3][r]);
            yield return new BenchResult($"transformer slice {name}: share of its time in linear layers", Share(r => times[4][r]), "ratio", "the layers alone / the slice, round by round");
            yield return new BenchResult($"transformer slice {name}: share of its time in attention", Share(r => times[5][r]), "ratio",
                $"{SliceParts.AttentionCalls} calls over {slice.Tokens} alone / the slice");
            yield return new BenchResult($"transformer slice {name}: share of its time elsewhere", Share(r => times[3][r] - times[4][r] - times[5][r]), "ratio",
                "norms, modulation, RoPE, GELU, softmax's neighbours, copies: the slice less the two above");
        }
        foreach (var result in Attention(slice, n, rounds)) yield return result;
    }

    /// <summary>
    /// Runs <paramref name="work"/> the way the studio runs engine work (<see cref="ComputeThreads.Run{T}"/>): on a
    /// thread of its own, where glibc gives a heap of its own that keeps no block over 64 MiB for reuse.
    /// </summary>
    private static T OnThreadOfItsOwn<T>(Func<T> work) => ComputeThreads.Run(work).GetAwaiter().GetResult();

    /// <summary>
    /// The slice's joint attention alone in bf16 (24 heads of 128 over all its tokens): the engine's products against
    /// libtorch's fused kernel, each as a fraction of the bf16 matmul peak of the same rounds.
    /// </summary>
    private static IEnumerable<BenchResult> Attention(TransformerSlice slice, int n, int rounds)
    {
        var config = TransformerSlice.Config;
        long tokens = slice.ImageTokens + slice.TextTokens;
        var inputs = slice.RandomAttentionInputs(ScalarType.BFloat16, new Generator(13));
        using var q = inputs.Q;
        using var k = inputs.K;
        using var v = inputs.V;
        using var a = randn([n, n]).to(ScalarType.BFloat16);
        using var b = randn([n, n]).to(ScalarType.BFloat16);
        void Product() => matmul(a, b).Dispose();
        // As in denoising, where attention runs: outside it glibc hands the blocks' scores back to the system, and they
        // come back as fresh pages the kernel must fault in and zero (2 000–4 000 faults per attention here).
        using var keep = NativeHeap.KeepFreedPages();
        void Run(Func<Tensor> attention)
        {
            using var scope = NewDisposeScope();
            attention();
        }
        var times = Timing.Interleaved([Product, Product, Product,
            () => Run(() => ScaledDotProductAttention.Compute(q, k, v)),
            () => Run(() => nn.functional.scaled_dot_product_attention(q, k, v))], rounds);
        double PeakMs(int round) => Math.Min(times[0][round], Math.Min(times[1][round], times[2][round]));
        double flops = 4.0 * config.NumHeads * tokens * tokens * config.HeadDim, peakFlops = 2.0 * n * n * n;
        double Fraction(int variant, int round) => flops / times[variant][round] / (peakFlops / PeakMs(round));
        string shape = $"{config.NumHeads} heads × {tokens} tokens";
        yield return new BenchResult("attention bf16 / matmul peak", Timing.MedianRatio(rounds, r => Fraction(3, r)), "ratio", $"{shape}; blocks of products");
        yield return new BenchResult("attention bf16, libtorch's fused kernel / matmul peak", Timing.MedianRatio(rounds, r => Fraction(4, r)), "ratio", shape);
        yield return new BenchResult("attention bf16, products / fused kernel (time)", Timing.MedianRatio(rounds, r => times[3][r] / times[4][r]), "ratio", shape);
        // After the timed rounds, so that a run whose attention slowed down also says whether its results were wrong.
        yield return new BenchResult("attention bf16, products against float32 fused attention", LargestDifference(q, k, v), "max |diff|", shape);

        // Engine work on a thread of its own, once while this thread keeps the OpenMP team it just used, once after
        // releasing it, alternated (wall time): what ComputeThreads saves where engine work left a team on another thread.
        double TimeOnThreadOfItsOwn() => OnThreadOfItsOwn(() =>
            Timing.Median(() => Run(() => ScaledDotProductAttention.Compute(q, k, v)), runs: 3).TotalMilliseconds);
        var besideIdleTeam = new double[rounds];
        var alone = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            Product();
            besideIdleTeam[round] = TimeOnThreadOfItsOwn();
            ComputeThreads.ReleaseTeam();
            alone[round] = TimeOnThreadOfItsOwn();
        }
        yield return new BenchResult("attention bf16 beside an idle OpenMP team / alone (time)",
            Timing.MedianRatio(rounds, r => besideIdleTeam[r] / alone[r]), "ratio", $"{shape}; libtorch threads: {get_num_threads()}");
    }

    private static double LargestDifference(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        var (q32, k32, v32) = (q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var products = ScaledDotProductAttention.Compute(q, k, v).to(ScalarType.Float32);
        return (products - nn.functional.scaled_dot_product_attention(q32, k32, v32)).abs().max().item<float>();
    }

    /// <summary>
    /// Inputs for the slice's parts alone: each linear layer on random rows of the count it multiplies in a forward, and
    /// the joint attention (one per double and per single block) on random q, k, v of the slice's heads and tokens.
    /// </summary>
    private sealed class SliceParts : IDisposable
    {
        private readonly List<(Linear Layer, Tensor Input)> _linear;
        private readonly Tensor _q, _k, _v;

        public SliceParts(TransformerSlice slice, FluxTransformer model)
        {
            var generator = new Generator(17);
            var dtype = model.DType;
            var layers = slice.LinearLayers(model);
            _linear = layers.Select(l => (l.Layer, randn([l.Rows, l.Layer.InFeatures], generator: generator).to(dtype))).ToList();
            LinearFlops = layers.Sum(l => 2.0 * l.Rows * l.Layer.InFeatures * l.Layer.OutFeatures);
            (_q, _k, _v) = slice.RandomAttentionInputs(dtype, generator);
        }

        public static int AttentionCalls => TransformerSlice.Config.Depth + TransformerSlice.Config.DepthSingleBlocks;

        public double LinearFlops { get; }

        public int LinearLayerCount => _linear.Count;

        public void RunLinearLayers()
        {
            using var _ = no_grad();
            foreach (var (layer, input) in _linear)
                using (NewDisposeScope()) layer.forward(input);
            NativeHeap.FreeStepLeftovers();
        }

        public void RunAttention()
        {
            using var _ = no_grad();
            for (int call = 0; call < AttentionCalls; call++)
                using (NewDisposeScope()) ScaledDotProductAttention.Compute(_q, _k, _v);
            NativeHeap.FreeStepLeftovers();
        }

        public void Dispose()
        {
            foreach (var (_, input) in _linear) input.Dispose();
            foreach (var tensor in new[] { _q, _k, _v }) tensor.Dispose();
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
