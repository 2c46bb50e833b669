using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Memory;

public sealed class MemoryPlannerTests
{
    private static readonly ComputeTarget Gpu = new(DeviceType.CUDA, 0, ScalarType.BFloat16);
    private static readonly HashSet<ModelPart> Nothing = [];

    private static MemoryShortfall Refusal(ModelFootprint model, MemoryRequest request, double gigabytes)
    {
        var error = Assert.Throws<EngineMemoryException>(() => FixedMemory.Planner((long)(gigabytes * 1e9)).Check(model, Gpu, request, Nothing));
        return error.Shortfall;
    }

    private static long Needs(ModelFootprint model, MemoryRequest request) => GenerationMemory.Estimate(model, request, Nothing).TotalBytes;

    [Fact]
    public void AGenerationThatFitsIsPlanned()
    {
        var flux = GenerationMemoryTests.Flux();
        var request = new MemoryRequest(1024, 1024, LowMemory: false);

        var plan = FixedMemory.Planner((long)40e9).Check(flux, Gpu, request, Nothing);

        Assert.Equal(Needs(flux, request), plan.Estimate.TotalBytes);
        Assert.Equal((long)40e9, plan.AvailableBytes);
    }

    [Theory]
    [InlineData(24, 8)]
    [InlineData(16, 4)]
    public void TheLeastQuantizationThatFitsIsOffered(double gigabytes, int bits)
    {
        var shortfall = Refusal(GenerationMemoryTests.Flux(), new MemoryRequest(1024, 1024, LowMemory: false), gigabytes);

        Assert.Null(shortfall.Operation);
        Assert.Equal((long)(gigabytes * 1e9), shortfall.AvailableBytes);
        Assert.Equal([new MemoryRemedy(QuantizeBits: bits)], shortfall.Remedies);
        Assert.True(Needs(GenerationMemoryTests.Flux(bits: bits), new MemoryRequest(1024, 1024, false)) <= gigabytes * 1e9);
    }

    [Fact]
    public void EverySingleChangeThatFitsIsOffered()
    {
        var request = new MemoryRequest(1024, 1024, LowMemory: false);
        var shortfall = Refusal(GenerationMemoryTests.Flux(), request, 30);

        Assert.Equal([new MemoryRemedy(QuantizeBits: 8), new MemoryRemedy(LowMemory: true)], shortfall.Remedies);
        Assert.True(Needs(GenerationMemoryTests.Flux(), request with { LowMemory = true }) <= 30e9);
    }

    [Fact]
    public void WhenNoSingleChangeIsEnoughTheyAreCombined()
    {
        var request = new MemoryRequest(1536, 1024, LowMemory: false);
        var shortfall = Refusal(GenerationMemoryTests.Flux(), request, 8);

        var remedy = Assert.Single(shortfall.Remedies);
        Assert.Equal((4, true), (remedy.QuantizeBits, remedy.LowMemory));
        var (width, height) = (remedy.Width!.Value, remedy.Height!.Value);
        Assert.Equal((0, 0), (width % 16, height % 16));
        Assert.InRange((double)width / height, 1.45, 1.55);
        var smallest = GenerationMemoryTests.Flux(bits: 4);
        Assert.True(Needs(smallest, new MemoryRequest(width, height, true)) <= 8e9);
        Assert.True(Needs(smallest, new MemoryRequest(width + 16, height + 16, true)) > 8e9, "a larger image of that shape would fit too");
    }

    [Fact]
    public void ASmallerImageIsTheLargestOfTheSameShapeThatFits()
    {
        var model = GenerationMemoryTests.Flux(bits: 4);
        var request = new MemoryRequest(1024, 2048, LowMemory: true);
        var budget = Needs(model, request with { Width = 512, Height = 1024 }) + (1 << 20);

        var shortfall = Refusal(model, request, budget / 1e9);

        Assert.Equal([new MemoryRemedy(Width: 512, Height: 1024)], shortfall.Remedies);
    }

    [Fact]
    public void WhenNothingFitsTheSentenceSaysSo()
    {
        var shortfall = Refusal(GenerationMemoryTests.Flux(), new MemoryRequest(1024, 1024, LowMemory: false), 2);

        Assert.Empty(shortfall.Remedies);
        Assert.Contains("nothing smaller fits", shortfall.Describe(PlainMemoryRemedyWording.Instance));
    }

    [Fact]
    public void AMachineThatCannotTellRefusesNothing()
    {
        var plan = FixedMemory.Planner(null).Check(GenerationMemoryTests.Flux(), Gpu, new MemoryRequest(4096, 4096, false), Nothing);
        Assert.Null(plan.AvailableBytes);
        Assert.True(plan.Fits);
    }
}
