using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.Pipeline;

public sealed class EngineMemoryExceptionTests
{
    [Theory]
    [InlineData("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.69 GiB total capacity)")]
    [InlineData("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 103079215104 bytes.")]
    [InlineData("std::bad_alloc")]
    [InlineData("MPS backend out of memory (MPS allocated: 18.13 GB)")]
    public void RecognisesLibTorchAllocationFailures(string message) =>
        Assert.True(EngineMemoryException.IsAllocationFailure(new System.Runtime.InteropServices.ExternalException(message)));

    [Fact]
    public void OtherErrorsAreNotMistakenForMemory() =>
        Assert.False(EngineMemoryException.IsAllocationFailure(new InvalidOperationException("shape '[1, 4]' is invalid for input of size 3")));

    [Fact]
    public void TheMessageSaysWhatWouldFitInNoSurfacesTerms()
    {
        var error = new EngineMemoryException(new MemoryShortfall(2048, 1024, null, 31_500_000_000, 12_100_000_000,
            [new MemoryRemedy(Width: 1024, Height: 512), new MemoryRemedy(QuantizeBits: 8), new MemoryRemedy(LowMemory: true)]));

        Assert.Equal("A 2048 × 1024 image needs about 32 GB of memory and 12 GB is available; it would fit at 1024 × 512, " +
                     "with 8-bit quantization or in low-memory mode.", error.Message);
    }

    [Fact]
    public void AFailureOutsideThePlannedStagesOffersHalfThePixels()
    {
        var shortfall = MemoryShortfall.Unplanned(1024, 768, "saving the image", 16);

        Assert.Equal([new MemoryRemedy(Width: 720, Height: 528)], shortfall.Remedies);
        Assert.Equal("The 1024 × 768 image ran out of memory while saving the image; it would likely fit at 720 × 528.",
            shortfall.Describe(PlainMemoryRemedyWording.Instance));
    }
}
