using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// softmax(q·kᵀ/√d)·v over (B, H, L, D) tensors without ever holding the L × L score matrix, so that attention's
/// memory grows with the token count rather than with its square.
/// </summary>
/// <remarks>
/// libtorch 2.10's CPU dispatcher runs its flash kernel (blocks of queries against blocks of keys with an online
/// softmax, a few megabytes of workspace per thread) only when q, k and v are 4-D, float32, float64, bfloat16 or
/// float16, unmasked, with equal head sizes and a last dimension of stride 1. Anything else takes the math fallback,
/// which materialises the B·H·L² scores in float32, twice (the VAE's 256 × 256 latent: 16 GiB each). Hence the copy
/// of any input whose last dimension is strided. On CUDA the same inputs get flash or memory-efficient attention.
/// Other devices (MPS) have no such kernel for every shape: there the queries go through in chunks whose scores stay
/// under <see cref="ChunkScoreBytes"/>. Every query row is computed exactly as in one call, chunked or not.
/// </remarks>
public static class ScaledDotProductAttention
{
    /// <summary>The most score memory one chunk of queries may take where no fused kernel is sure to run.</summary>
    public const long ChunkScoreBytes = 256L << 20;

    public static Tensor Compute(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        var (query, key, value) = (LastDimensionDense(q), LastDimensionDense(k), LastDimensionDense(v));
        var result = HasFusedKernel(query.device.type)
            ? nn.functional.scaled_dot_product_attention(query, key, value)
            : Chunked(query, key, value, RowsPerChunk(query, key, ChunkScoreBytes));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Attention for <paramref name="rows"/> queries at a time, written into one output tensor.</summary>
    public static Tensor Chunked(Tensor q, Tensor k, Tensor v, long rows)
    {
        using var scope = NewDisposeScope();
        long length = q.shape[2];
        var output = empty([q.shape[0], q.shape[1], length, v.shape[3]], q.dtype, q.device);
        for (long start = 0; start < length; start += rows)
        {
            using var chunkScope = NewDisposeScope();
            var count = Math.Min(rows, length - start);
            output.narrow(2, start, count).copy_(nn.functional.scaled_dot_product_attention(q.narrow(2, start, count), k, v));
        }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>How many query rows keep one chunk's float32 scores (B·H·rows·L_k) within <paramref name="bytes"/>.</summary>
    public static long RowsPerChunk(Tensor q, Tensor k, long bytes) =>
        Math.Max(1, bytes / (q.shape[0] * q.shape[1] * k.shape[2] * sizeof(float)));

    private static bool HasFusedKernel(DeviceType device) => device is DeviceType.CPU or DeviceType.CUDA;

    private static Tensor LastDimensionDense(Tensor x) => x.stride(-1) == 1 ? x : x.contiguous();
}
