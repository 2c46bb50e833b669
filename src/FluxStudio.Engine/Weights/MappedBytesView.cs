using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// A tensor of any dtype over bytes of a file's mapping, so that a file is mapped once whatever dtypes it stores.
/// </summary>
/// <remarks>
/// libtorch maps a file anew on each <c>from_file</c> and has no view that changes the dtype, so a file mapped once per
/// dtype (a quantized model's uint8 weights and bf16 scales) is two mappings of the same pages. The kernel maps
/// neighbours of each page it faults in (a whole large folio of the page cache at a time), so pages of one dtype's
/// tensors are mapped into the other mapping too: each such page then counts twice in the process's resident memory,
/// though it is one page of the cache (1.1 GB of a 4-bit FLUX.1 transformer's 6.8 GB). Here the tensor is made over
/// the bytes' own address (libtorch's from_blob), and a byte view of the mapping, released by the tensor's deleter,
/// keeps the mapping alive as long as the tensor.
/// </remarks>
internal static unsafe class MappedBytesView
{
    private static readonly Lock Gate = new();

    // By data address: the byte views keeping the mapping under each tensor made there (one per tensor).
    private static readonly Dictionary<nint, Stack<Tensor>> Keepers = [];

    /// <summary>The stored tensor <paramref name="info"/> over <paramref name="bytes"/>, its bytes in the mapping, which it takes over.</summary>
    public static Tensor Create(Tensor bytes, TensorInfo info)
    {
        var (dtype, shape) = (info.DType, info.Shape);
        var (data, length) = WeightMapping.Range(bytes);
        if (bytes.dtype != ScalarType.Byte || !bytes.is_contiguous() || length != info.ElementCount * SafetensorsDType.SizeOf(dtype))
            throw new ArgumentException("Expected contiguous bytes as many as the tensor's.", nameof(bytes));
        bytes.DetachFromDisposeScope();
        lock (Gate)
        {
            if (!Keepers.TryGetValue(data, out var keepers)) Keepers[data] = keepers = new Stack<Tensor>();
            keepers.Push(bytes);
        }
        nint handle;
        fixed (long* dimensions = shape)
            handle = THSTensor_new(data, &Release, dimensions, shape.Length, (sbyte)dtype, (sbyte)dtype, 0, 0, false);
        if (handle == 0)
        {
            Drop(data);
            CheckForErrors();
            throw new InvalidOperationException("libtorch could not make a tensor over a file's mapped bytes.");
        }
        return Tensor.UnsafeCreateTensor(handle);
    }

    // Called by libtorch, on whatever thread frees the tensor's storage last: nothing may escape into native code.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Release(nint data)
    {
        try
        {
            Drop(data);
        }
        catch
        {
            // The mapping then lives until the process ends; throwing here would end the process.
        }
    }

    private static void Drop(nint data)
    {
        Tensor keeper;
        lock (Gate)
        {
            var keepers = Keepers[data];
            keeper = keepers.Pop();
            if (keepers.Count == 0) Keepers.Remove(data);
        }
        keeper.Dispose();
    }

    // LibTorchSharp's from_blob with a deleter: data, deleter, sizes, their count, stored and wanted dtype (equal: no
    // conversion), device type and index (CPU), requires_grad.
    [DllImport("LibTorchSharp")]
    private static extern nint THSTensor_new(nint data, delegate* unmanaged[Cdecl]<nint, void> deleter, long* dimensions, int count,
        sbyte type, sbyte dtype, int deviceType, int deviceIndex, [MarshalAs(UnmanagedType.U1)] bool requiresGrad);
}
