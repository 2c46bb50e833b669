using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// GroupNorm statistics of a whole image, gathered tile by tile, so that tiles decoded one at a time all normalise
/// alike instead of each by its own mean and variance (which shows as tiles of different tone).
/// </summary>
/// <remarks>
/// Norms are told apart by the order in which a tile calls them, which is the same for every tile. Each tile counts
/// only the pixels it owns (the overlaps are split down the middle), so every pixel is counted once. Sums are kept in
/// float64 (float32 on MPS). The statistics own their tensors: they are kept out of every dispose scope and freed by Dispose.
/// </remarks>
internal sealed class SharedGroupStatistics : IDisposable
{
    private readonly List<(Tensor Sum, Tensor SquareSum, long Count)?> _gathering = [];
    private readonly List<(Tensor Mean, Tensor Variance)> _frozen = [];
    private int _next;
    private (long Top, long Left, long Height, long Width, long TileHeight) _owned;

    /// <summary>Whether the current pass adds the tiles' pixels to the sums.</summary>
    public bool Gathering { get; set; }

    /// <summary>
    /// Starts a tile. The rectangle (top, left, height, width), in latent pixels relative to the tile, is the part of
    /// it that no other tile counts; <paramref name="tileHeight"/> gives the scale of each norm's resolution.
    /// </summary>
    public void BeginTile(long top, long left, long height, long width, long tileHeight)
    {
        _next = 0;
        _owned = (top, left, height, width, tileHeight);
    }

    /// <summary>Turns the sums of the finished pass into the statistics the next pass uses.</summary>
    public void Freeze()
    {
        DisposeFrozen();
        foreach (var sums in _gathering)
        {
            var (sum, squareSum, count) = sums ?? throw new InvalidOperationException("a norm gathered no pixels");
            using var scope = NewDisposeScope();
            using var pixels = count.ToScalar();
            var mean = sum / pixels;
            var variance = (squareSum / pixels - mean.pow(Two)).clamp_min(Zero);
            _frozen.Add((mean.DetachFromDisposeScope(), variance.DetachFromDisposeScope()));
            sum.Dispose();
            squareSum.Dispose();
        }
        _gathering.Clear();
    }

    /// <summary>
    /// Normalises one norm's input of the current tile with the shared statistics, without the affine part; null
    /// while this norm has none yet (the first pass), when the tile's own statistics have to do.
    /// </summary>
    public Tensor? Normalize(Tensor x, long groups, double epsilon)
    {
        var index = _next++;
        if (Gathering) Gather(index, x, groups);
        if (index >= _frozen.Count) return null;
        using var scope = NewDisposeScope();
        var batch = x.shape[0];
        var (mean, variance) = _frozen[index];
        var grouped = x.reshape(batch, groups, -1);
        using var eps = epsilon.ToScalar();
        var normalized = (grouped - mean.to(x.dtype).unsqueeze(-1)) * variance.add(eps, One).rsqrt().to(x.dtype).unsqueeze(-1);
        return normalized.reshape(x.shape).MoveToOuterDisposeScope();
    }

    private void Gather(int index, Tensor x, long groups)
    {
        using var scope = NewDisposeScope();
        // This norm's resolution is a power-of-two multiple of the latent's.
        var scale = x.shape[2] / _owned.TileHeight;
        var owned = x.narrow(2, _owned.Top * scale, _owned.Height * scale).narrow(3, _owned.Left * scale, _owned.Width * scale)
            .to(AccumulationType(x.device));
        var grouped = owned.reshape(x.shape[0], groups, -1);
        var (sum, squareSum) = (grouped.sum(-1), grouped.pow(Two).sum(-1));
        while (_gathering.Count <= index) _gathering.Add(null);
        if (_gathering[index] is { } gathered)
        {
            gathered.Sum.add_(sum, One);
            gathered.SquareSum.add_(squareSum, One);
            _gathering[index] = gathered with { Count = gathered.Count + grouped.shape[2] };
        }
        else
            _gathering[index] = (sum.DetachFromDisposeScope(), squareSum.DetachFromDisposeScope(), grouped.shape[2]);
    }

    // Apple's MPS backend has no float64.
    private static ScalarType AccumulationType(Device device) =>
        device.type == DeviceType.MPS ? ScalarType.Float32 : ScalarType.Float64;

    private void DisposeFrozen()
    {
        foreach (var (mean, variance) in _frozen)
        {
            mean.Dispose();
            variance.Dispose();
        }
        _frozen.Clear();
    }

    public void Dispose()
    {
        DisposeFrozen();
        foreach (var sums in _gathering)
        {
            sums?.Sum.Dispose();
            sums?.SquareSum.Dispose();
        }
    }
}
