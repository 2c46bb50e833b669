using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Memory;

/// <summary>The memory check and the out-of-memory sentence in a real generation on a tiny model.</summary>
public sealed class PipelineMemoryTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    private static FluxGenerationOptions Options(int side) => new() { Prompt = "a lighthouse", Seed = 3, Width = side, Height = side, Steps = 2 };

    [Fact]
    public void AGenerationThatCannotFitIsRefusedBeforeAnythingIsAllocated()
    {
        using var model = LoadedFluxModel.Load(tiny.Location, ComputeTarget.Cpu, lowMemory: true);
        var reports = new List<GenerationProgress>();
        var needed = FixedMemory.Planner(null).Check(model, 256, 256).Estimate.TotalBytes;

        var error = Assert.Throws<EngineMemoryException>(() => new FluxPipeline(model, FixedMemory.Planner(needed - 1))
            .Generate(Options(256), new SynchronousProgress<GenerationProgress>(reports.Add)));

        Assert.Empty(reports);
        Assert.Empty(model.ResidentParts);
        Assert.Equal((needed, needed - 1), (error.Shortfall.NeededBytes, error.Shortfall.AvailableBytes));
        var smaller = Assert.Single(error.Shortfall.Remedies);
        Assert.True(smaller.Width < 256 && smaller.Height == smaller.Width, $"{smaller}");
        Assert.StartsWith("A 256 × 256 image needs about ", error.Message);

        // What the refusal offers does run.
        var result = new FluxPipeline(model, FixedMemory.Planner(needed - 1)).Generate(Options(smaller.Width!.Value));
        Assert.Equal(smaller.Width, result.Width);
    }

    [Fact]
    public void AnAllocationThatFailsMidwayEndsWithTheSentenceNotLibTorchs()
    {
        using var model = LoadedFluxModel.Load(tiny.Location, ComputeTarget.Cpu, lowMemory: false);
        // A real libtorch allocation failure in the middle of denoising: the step's progress report asks for a petabyte.
        var progress = new SynchronousProgress<GenerationProgress>(p =>
        {
            if (p.Stage == GenerationStage.Denoising && p.Step == 1) empty([1L << 48], ScalarType.Float32).Dispose();
        });

        var error = Assert.Throws<EngineMemoryException>(() => new FluxPipeline(model, FixedMemory.Planner(8L << 30)).Generate(Options(64), progress));

        Assert.Equal("denoising", error.Shortfall.Operation);
        Assert.Contains("can't allocate memory", error.InnerException!.Message);
        Assert.DoesNotContain("frame #", error.Message);
        Assert.Equal([new MemoryRemedy(Width: 44, Height: 44), new MemoryRemedy(QuantizeBits: 8), new MemoryRemedy(LowMemory: true)],
            error.Shortfall.Remedies);
        Assert.Equal("The 64 × 64 image ran out of memory while denoising; it would likely fit at 44 × 44, with 8-bit quantization " +
                     "or in low-memory mode.", error.Message);
    }
}
