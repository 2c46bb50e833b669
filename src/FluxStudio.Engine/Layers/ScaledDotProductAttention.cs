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
/// In bfloat16 on the CPU that flash kernel runs at about a quarter of the matrix-product peak (it multiplies in
/// float32), so bfloat16 goes through <see cref="Products"/> instead: blocks of queries whose scores are products at
/// the bfloat16 peak. Other devices (MPS) have no fused kernel for every shape: there the queries go through in
/// chunks whose scores stay under <see cref="ChunkScoreBytes"/>. Every query row is computed exactly as in one call,
/// chunked or not.
/// </remarks>
public static class ScaledDotProductAttention
{
    /// <summary>The most score memory one chunk of queries may take where no fused kernel is sure to run.</summary>
    public const long ChunkScoreBytes = 256L << 20;

    /// <summary>
    /// The score memory one block of <see cref="Products"/> aims at per libtorch thread: about one core's L2 cache, so
    /// that a block's scores stay in cache from their product through the softmax to the product with v, on every core
    /// that shares the block.
    /// </summary>
    public const long BlockScoreBytes = 1L << 20;

    /// <summary>Query rows per block when the cache budget allows: enough for the products to run at full speed.</summary>
    public const long BlockRows = 256;

    /// <summary>The fewest query rows per block, whatever the key count: below this the products slow down.</summary>
    public const long MinBlockRows = 32;

    public static Tensor Compute(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        var (query, key, value) = (LastDimensionDense(q), LastDimensionDense(k), LastDimensionDense(v));
        var result = query.device.type == DeviceType.CPU && query.dtype == ScalarType.BFloat16 && !RecordsGradient(query, key, value)
            ? Products(query, key, value, BlocksFor(query, key, get_num_threads()))
            : HasFusedKernel(query.device.type)
            ? nn.functional.scaled_dot_product_attention(query, key, value)
            : Chunked(query, key, value, RowsPerChunk(query, key, ChunkScoreBytes));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Heads and query rows of one block of <see cref="Products"/>.</summary>
    public readonly record struct Blocks(long Heads, long Rows);

    /// <summary>
    /// <see cref="BlockRows"/> query rows of as many heads as fit in <see cref="BlockScoreBytes"/> per thread; fewer
    /// rows (down to <see cref="MinBlockRows"/>) when one head's scores alone are larger, so that a block's memory grows
    /// linearly with the key count.
    /// </summary>
    /// <remarks>
    /// Each operation on a block is one parallel region of libtorch's threads, a few per block: blocks as large as all
    /// threads' caches halve their number on two threads (bf16 attention at the bench slice's size: 49–55 ms against
    /// 63–68 ms with one head per block; on one thread the same either way).
    /// </remarks>
    public static Blocks BlocksFor(Tensor q, Tensor k, int threads)
    {
        long heads = q.shape[1], queries = q.shape[2], rowBytes = k.shape[2] * q.element_size();
        long budget = BlockScoreBytes * Math.Max(1, threads);
        long rows = Math.Min(queries, BlockRows);
        if (rows * rowBytes > budget)
            rows = Math.Min(queries, Math.Max(MinBlockRows, budget / rowBytes));
        return new Blocks(Math.Clamp(budget / (rows * rowBytes), 1, heads), rows);
    }

    /// <summary>
    /// Attention as plain products, one block of heads and query rows at a time: scores = q·kᵀ/√d, softmax, then ·v.
    /// Returns (B, H, L, D) laid out as (B, L, H, D), so that merging the heads afterwards is a view.
    /// </summary>
    /// <remarks>
    /// A product rounds its float32 sums to the inputs' dtype. Rounding the scores themselves to bfloat16 would cost
    /// them 2⁻⁹ of their magnitude, and the largest scores carry the weight: at logits of 10 that is 2 % of a weight,
    /// ten times the fused kernel's error. So a first product finds each row's largest score, and the second adds
    /// minus that maximum before rounding (baddbmm, in float32): the scores that carry the weight are then near zero
    /// and keep their precision, as in the fused kernel's float32 softmax. The first product and its maximum cost about
    /// a quarter of the time; the rounding of the weights to bfloat16 before ·v is what the fused kernel does too.
    /// </remarks>
    public static Tensor Products(Tensor q, Tensor k, Tensor v, Blocks blocks)
    {
        using var scope = NewDisposeScope();
        var (batch, heads, length) = (q.shape[0], q.shape[1], q.shape[2]);
        float scale = (float)(1 / Math.Sqrt(q.shape[3]));
        using var minusScale = (-scale).ToScalar();
        var (keys, values) = (k.contiguous(), v.contiguous());
        var output = empty([batch, length, heads, v.shape[3]], q.dtype, q.device);
        for (long b = 0; b < batch; b++)
        for (long head = 0; head < heads; head += blocks.Heads)
        {
            long count = Math.Min(blocks.Heads, heads - head);
            var queries = q[b].narrow(0, head, count);
            var keysT = keys[b].narrow(0, head, count).transpose(1, 2);
            var headValues = values[b].narrow(0, head, count);
            var headOutput = output[b].transpose(0, 1).narrow(0, head, count);
            for (long start = 0; start < length; start += blocks.Rows)
            {
                using var blockScope = NewDisposeScope();
                long rows = Math.Min(blocks.Rows, length - start);
                var block = queries.narrow(1, start, rows);
                Tensor shift;
                using (no_grad())
                using (var rough = block.bmm(keysT))
                    shift = rough.amax([-1], keepdim: true).mul_(minusScale);
                // TorchSharp's Tensor.baddbmm(batch2, input): this·batch2·alpha + input·beta.
                var weights = block.baddbmm(keysT, shift, beta: 1, alpha: scale).softmax(-1);
                headOutput.narrow(1, start, rows).copy_(weights.bmm(headValues));
            }
        }
        return output.permute(0, 2, 1, 3).MoveToOuterDisposeScope();
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

    /// <summary>
    /// Training keeps the fused kernel: its backward pass recomputes the weights from O(L) statistics, where autograd
    /// through <see cref="Products"/> would keep every block's weights, L² per head, until the backward pass.
    /// </summary>
    private static bool RecordsGradient(Tensor q, Tensor k, Tensor v) =>
        is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad);

    private static bool HasFusedKernel(DeviceType device) => device is DeviceType.CPU or DeviceType.CUDA;

    private static Tensor LastDimensionDense(Tensor x) => x.stride(-1) == 1 ? x : x.contiguous();
}
