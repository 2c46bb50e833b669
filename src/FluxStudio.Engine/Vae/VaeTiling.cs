namespace FluxStudio.Engine.Vae;

/// <summary>
/// How to decode a large latent piece by piece: square tiles of <see cref="TileSize"/> latent pixels that overlap their
/// neighbours by <see cref="Overlap"/>, blended with linear ramps across each overlap.
/// </summary>
/// <remarks>
/// Each tile is decoded alone, so its GroupNorm statistics and mid-block attention see only the tile: the result is
/// close to, not equal to, a whole decode. Wider overlaps hide the seams better and cost more tiles. The defaults
/// (64 and 16 latent pixels; 512 and 128 image pixels for FLUX.1) keep one tile's activations near 1.5 GB in float32.
/// </remarks>
public sealed record VaeTiling(int TileSize = 64, int Overlap = 16)
{
    public VaeTiling Validate()
    {
        if (TileSize < 1 || Overlap < 0 || Overlap >= TileSize)
            throw new ArgumentException(
                $"VAE tiling needs a tile of at least 1 latent pixel and an overlap smaller than the tile (got tile {TileSize}, overlap {Overlap}).");
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
