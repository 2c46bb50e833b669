using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Devices;

public sealed class AutoPrecisionTests
{
    public static TheoryData<bool, bool, ScalarType> CpuCases => new()
    {
        { true, false, ScalarType.BFloat16 },
        { false, true, ScalarType.BFloat16 },
        { true, true, ScalarType.BFloat16 },
        { false, false, ScalarType.Float32 },
    };

    [Theory]
    [MemberData(nameof(CpuCases))]
    public void AutoRunsBFloat16OnlyOnCpusWithBFloat16MatrixInstructions(bool avx512Bf16, bool amxBf16, ScalarType expected)
    {
        var cpu = new CpuFeatures(avx512Bf16, amxBf16);
        Assert.Equal(expected, ComputeTarget.Resolve("auto", "auto", false, false, cpu).DType);
        Assert.Equal(expected, ComputeTarget.Resolve("cpu", null, true, true, cpu).DType);
        // An explicit precision wins over the CPU's.
        Assert.Equal(ScalarType.Float32, ComputeTarget.Resolve("cpu", "fp32", false, false, cpu).DType);
        // GPUs run bf16 whatever the CPU has.
        Assert.Equal(ScalarType.BFloat16, ComputeTarget.Resolve("auto", "auto", true, false, cpu).DType);
    }

    [Fact]
    public void DetectionAgreesWithTheKernelsCpuFlags()
    {
        if (!File.Exists("/proc/cpuinfo") || !System.Runtime.Intrinsics.X86.X86Base.IsSupported) return;
        var flags = File.ReadLines("/proc/cpuinfo").First(line => line.StartsWith("flags", StringComparison.Ordinal))
            .Split(':')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var detected = CpuFeatures.Detect();
        Assert.Equal(flags.Contains("avx512_bf16") && flags.Contains("avx512f"), detected.Avx512BFloat16);
        Assert.Equal(flags.Contains("amx_bf16") && flags.Contains("avx512f"), detected.AmxBFloat16);
    }

    [Theory]
    [InlineData(true, "bf16")]
    [InlineData(false, "fp32")]
    public void TheRecordedPrecisionIsTheOneTheTransformerRanIn(bool fastBf16, string expected)
    {
        using var folder = new TempFolder();
        TinyModelWriter.Write(folder.Path, dev: false, seed: 5);
        var target = ComputeTarget.Resolve("cpu", "auto", false, false, new CpuFeatures(fastBf16, false));
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder.Path), target, lowMemory: false);

        var result = new FluxPipeline(model).Generate(new FluxGenerationOptions { Prompt = "a fox", Seed = 3, Width = 16, Height = 16, Steps = 1 });

        Assert.Equal(expected, result.Precision);
        var ran = expected == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        Assert.Equal(ran, model.Transformer.DType);
        Assert.All(model.Transformer.parameters(), p => Assert.Equal(ran, p.dtype));
    }
}
