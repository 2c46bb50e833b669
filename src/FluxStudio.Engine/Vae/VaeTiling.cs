namespace FluxStudio.Engine.Vae;

/// <summary>
/// How to decode a large latent piece by piece: square tiles of <see cref="TileSize"/> latent pixels that overlap their
/// neighbours by <see cref="Overlap"/>, blended with linear ramps across each overlap.
/// </summary>
/// <remarks>
/// The latent-resolution part of the decoder (conv_in and the mid block with its attention) runs on the whole latent;
/// only the up path, where the memory goes, runs per tile. Its GroupNorms need statistics of the whole image: with
/// <see cref="StatisticsPasses"/> = 0 each tile uses its own (as diffusers does; tiles can differ in tone), with n ≥ 1
/// n extra passes over the tiles gather shared ones first. The k-th pass makes the first k norms exact, so as many
/// passes as the up path has norms, and an overlap wider than twice the receptive field, reproduce the whole decode.
/// The defaults (64 and 16 latent pixels; 512 and 128 image pixels for FLUX.1) keep one tile's activations near
/// 1.5 GB in float32.
/// </remarks>
public sealed record VaeTiling(int TileSize = 64, int Overlap = 16, int StatisticsPasses = 1)
{
    public VaeTiling Validate()
    {
        if (TileSize < 1 || Overlap < 0 || Overlap >= TileSize)
            throw new ArgumentException(
                $"VAE tiling needs a tile of at least 1 latent pixel and an overlap smaller than the tile (got tile {TileSize}, overlap {Overlap}).");
        if (StatisticsPasses < 0)
            throw new ArgumentException($"VAE tiling statistics passes cannot be negative (got {StatisticsPasses}).");
        return this;
    }

    /// <summary>Where tiles start along an axis of <paramref name="length"/> latent pixels; the last tile ends at the edge.</summary>
    public IReadOnlyList<int> TileStarts(int length)
    {
        if (length <= TileSize) return [0];
        var starts = new List<int>();
        for (var start = 0; start + TileSize < length; start += TileSize - Overlap) starts.Add(start);
        starts.Add(length - TileSize);
        return starts;
    }
}
