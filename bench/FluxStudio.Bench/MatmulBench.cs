using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>libtorch's matmul throughput at large sizes: the ceiling every model forward is compared with.</summary>
public static class MatmulBench
{
    public static double PeakFloat32 { get; private set; }
    public static double PeakBFloat16 { get; private set; }

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        int n = options.Quick ? 1024 : 2048;
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var a = randn([n, n]).to(dtype);
            using var b = randn([n, n]).to(dtype);
            var times = Timing.Interleaved([() => matmul(a, b).Dispose()], rounds: options.Quick ? 5 : 9);
            double gflops = 2.0 * n * n * n / Timing.Median(times[0]) / 1e6;
            if (dtype == ScalarType.Float32) PeakFloat32 = gflops; else PeakBFloat16 = gflops;
            yield return new BenchResult($"matmul {n}³ {Name(dtype)}", gflops, "GFLOP/s");
        }
    }

    public static string Name(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "fp32";

    public static double Peak(ScalarType dtype) => dtype == ScalarType.BFloat16 ? PeakBFloat16 : PeakFloat32;
}
