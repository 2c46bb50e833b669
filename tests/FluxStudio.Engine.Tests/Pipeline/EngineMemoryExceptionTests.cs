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
    public void TheMessageSuggestsQuantizationASmallerImageAndLowMemory()
    {
        var error = new EngineMemoryException("denoising", new OutOfMemoryException());
        Assert.Contains("while denoising", error.Message);
        Assert.Contains("-q 8 or -q 4", error.Message);
        Assert.Contains("smaller image", error.Message);
        Assert.Contains("--low-ram", error.Message);
    }
}
