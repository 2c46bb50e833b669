using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// Memory for dequantized weight blocks, reused by every quantized layer and forward pass. Allocating a fresh block of
/// tens of megabytes for each layer costs more than dequantizing into it: the allocator maps new pages each time and the
/// kernel zeroes every one of them. Each concurrent caller gets a buffer of its own.
/// </summary>
internal static class DequantizationScratch
{
    private static readonly ConcurrentDictionary<(ScalarType, DeviceType, int), ConcurrentBag<Tensor>> Free = new();

    /// <summary>A buffer of at least <paramref name="elements"/> elements, held until the lease is disposed.</summary>
    public static Lease Rent(ScalarType dtype, Device device, long elements)
    {
        var key = (dtype, device.type, device.index);
        var free = Free.GetOrAdd(key, _ => []);
        if (!free.TryTake(out var buffer) || buffer.NumberOfElements < elements)
        {
            buffer?.Dispose();
            buffer = empty([elements], dtype, device).DetachFromDisposeScope();
        }
        return new Lease(buffer, free);
    }

    /// <summary>Frees the buffers nobody holds (when a model is unloaded).</summary>
    public static void Release()
    {
        foreach (var free in Free.Values)
            while (free.TryTake(out var buffer))
                buffer.Dispose();
    }

    public sealed class Lease(Tensor buffer, ConcurrentBag<Tensor> owner) : IDisposable
    {
        /// <summary>Elements [offset, offset + rows·columns) of the buffer as a [rows, columns] matrix.</summary>
        public Tensor Matrix(long offset, long rows, long columns) => buffer.narrow(0, offset, rows * columns).view(rows, columns);

        public void Dispose() => owner.Add(buffer);
    }
}
