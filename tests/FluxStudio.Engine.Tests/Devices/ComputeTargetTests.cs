using FluxStudio.Engine.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Devices;

public sealed class ComputeTargetTests
{
    [Theory]
    [InlineData(true, true, DeviceType.CUDA, ScalarType.BFloat16)]
    [InlineData(false, true, DeviceType.MPS, ScalarType.BFloat16)]
    [InlineData(false, false, DeviceType.CPU, ScalarType.Float32)]
    public void AutoPrefersCudaThenMpsThenCpu(bool cuda, bool mps, DeviceType expected, ScalarType precision)
    {
        var target = ComputeTarget.Resolve("auto", "auto", cuda, mps);
        Assert.Equal(expected, target.DeviceType);
        Assert.Equal(precision, target.DType);
    }

    [Fact]
    public void ExplicitChoicesWinAndBadOnesSayWhatToDo()
    {
        Assert.Equal(ScalarType.BFloat16, ComputeTarget.Resolve("cpu", "bf16", true, false).DType);
        Assert.Equal("cpu (bf16)", ComputeTarget.Resolve("cpu", "bf16", true, false).ToString());
        Assert.Equal(DeviceType.CPU, ComputeTarget.Resolve(null, null, false, false).DeviceType);
        Assert.Contains("-p:TorchBackend=cuda", Assert.Throws<ArgumentException>(() => ComputeTarget.Resolve("cuda", null, false, false)).Message);
        Assert.Contains("Apple Silicon", Assert.Throws<ArgumentException>(() => ComputeTarget.Resolve("mps", null, false, false)).Message);
        Assert.Contains("use auto, cpu", Assert.Throws<ArgumentException>(() => ComputeTarget.Resolve("tpu", null, false, false)).Message);
        Assert.Contains("fp16 is not supported on the CPU", Assert.Throws<ArgumentException>(() => ComputeTarget.Resolve("cpu", "fp16", false, false)).Message);
    }
}
