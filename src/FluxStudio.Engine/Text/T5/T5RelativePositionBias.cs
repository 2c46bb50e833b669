using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>
/// T5's learned relative position bias: one scalar per head and bucket of the key-minus-query distance, added to the
/// attention scores. Only the first block owns it; every block adds the same bias.
/// </summary>
public sealed class T5RelativePositionBias : nn.Module<long, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    private readonly Parameter weight;
#pragma warning restore IDE1006
    private readonly int _numBuckets;
    private readonly int _maxDistance;

    public T5RelativePositionBias(T5EncoderConfig config, ScalarType dtype, Device device) : base(nameof(T5RelativePositionBias))
    {
        _numBuckets = config.RelativeAttentionNumBuckets;
        _maxDistance = config.RelativeAttentionMaxDistance;
        weight = nn.Parameter(empty([_numBuckets, config.NumHeads], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>The bias for self-attention over <paramref name="length"/> positions: [1, heads, query, key].</summary>
    public override Tensor forward(long length)
    {
        var buckets = Buckets(length, length, _numBuckets, _maxDistance, weight.device);
        return weight.index_select(0, buckets.flatten()).view(length, length, -1).permute(2, 0, 1).unsqueeze(0);
    }

    /// <summary>
    /// Bidirectional buckets of the relative position key − query, indexed [query, key]. Half the buckets are for keys
    /// after the query; within each half, small distances get a bucket each and larger ones share logarithmically
    /// wider buckets up to <paramref name="maxDistance"/>, beyond which all land in the last bucket.
    /// </summary>
    public static Tensor Buckets(long queryLength, long keyLength, int numBuckets, int maxDistance, Device? device = null)
    {
        using var queries = queryLength.ToScalar();
        using var keys = keyLength.ToScalar();
        var query = arange(queries, ScalarType.Int64, device).unsqueeze(1);
        var key = arange(keys, ScalarType.Int64, device).unsqueeze(0);
        var relative = key - query;

        var half = numBuckets / 2;
        using var bucketsPerDirection = half.ToScalar();
        var direction = relative.gt(Zero).to(ScalarType.Int64) * bucketsPerDirection;
        var distance = relative.abs();

        var maxExact = half / 2;
        using var exactLimit = maxExact.ToScalar();
        using var logRange = Math.Log((double)maxDistance / maxExact).ToScalar();
        using var logarithmicBuckets = (half - maxExact).ToScalar();
        using var lastBucket = (half - 1).ToScalar();
        // Same float32 operations as the reference, so distances at bucket boundaries round the same way.
        var logarithmic = (log(distance.to(ScalarType.Float32) / exactLimit)
            / logRange * logarithmicBuckets).to(ScalarType.Int64).add(exactLimit, One);
        logarithmic = logarithmic.clamp_max(lastBucket);
        return direction.add(where(distance.lt(exactLimit), distance, logarithmic), One);
    }
}
