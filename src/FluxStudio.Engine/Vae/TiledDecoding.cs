using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>Runs the decoder's up path tile by tile over latent-resolution features and blends the tiles.</summary>
internal static class TiledDecoding
{
    private static readonly Scalar Half = 0.5;

    public static Tensor Decode(Decoder decoder, Tensor features, AutoEncoderConfig config, VaeTiling tiling,
        IProgress<double>? progress, CancellationToken cancellationToken)
    {
        var (height, width) = ((int)features.shape[2], (int)features.shape[3]);
        var rows = Axis.Of(tiling, height);
        var columns = Axis.Of(tiling, width);
        var tiles = (from row in rows from column in columns select (Row: row, Column: column)).ToList();
        var steps = tiles.Count * (tiling.StatisticsPasses + 1);
        var done = 0;

        using var shared = tiling.StatisticsPasses > 0 ? new SharedGroupStatistics() : null;
        var norms = decoder.modules().OfType<GroupNormalization>().ToList();
        norms.ForEach(norm => norm.Shared = shared);
        try
        {
            for (var pass = 0; pass < tiling.StatisticsPasses; pass++)
            {
                shared!.Gathering = true;
                foreach (var (row, column) in tiles)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    shared.BeginTile(row.OwnedStart, column.OwnedStart, row.OwnedLength, column.OwnedLength, row.Length);
                    decoder.ToImage(Crop(features, row, column));
                    progress?.Report(++done / (double)steps);
                }
                shared.Freeze();
                shared.Gathering = false;
            }

            using var resultScope = NewDisposeScope();
            var f = config.DownsampleFactor;
            var sum = zeros([features.shape[0], config.OutChannels, height * f, width * f], ScalarType.Float32, features.device);
            var weightSum = zeros([height * f, width * f], ScalarType.Float32, features.device);
            foreach (var (row, column) in tiles)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                shared?.BeginTile(row.OwnedStart, column.OwnedStart, row.OwnedLength, column.OwnedLength, row.Length);
                var pixels = decoder.ToImage(Crop(features, row, column)).to(ScalarType.Float32);
                var weight = outer(row.BlendRamp(f, features.device), column.BlendRamp(f, features.device));
                sum.narrow(2, row.Start * f, row.Length * f).narrow(3, column.Start * f, column.Length * f).add_(pixels.mul_(weight), One);
                weightSum.narrow(0, row.Start * f, row.Length * f).narrow(1, column.Start * f, column.Length * f).add_(weight, One);
                progress?.Report(++done / (double)steps);
            }
            return sum.div_(weightSum).MoveToOuterDisposeScope();
        }
        finally
        {
            norms.ForEach(norm => norm.Shared = null);
        }
    }

    private static Tensor Crop(Tensor features, Axis row, Axis column) =>
        features.narrow(2, row.Start, row.Length).narrow(3, column.Start, column.Length);

    /// <summary>
    /// A tile's extent along one axis, in latent pixels: where it starts, how long it is, which part of it it owns
    /// (overlaps are split down the middle) and whether it has neighbours before and after.
    /// </summary>
    private sealed record Axis(int Start, int Length, int OwnedStart, int OwnedLength, bool HasPrevious, bool HasNext, int Overlap)
    {
        public static List<Axis> Of(VaeTiling tiling, int total)
        {
            var starts = tiling.TileStarts(total);
            var length = Math.Min(tiling.TileSize, total);
            var bounds = new List<int> { 0 };
            for (var i = 0; i + 1 < starts.Count; i++) bounds.Add((starts[i + 1] + starts[i] + length) / 2);
            bounds.Add(total);
            return [.. starts.Select((start, i) => new Axis(start, length, bounds[i] - start, bounds[i + 1] - bounds[i],
                i > 0, i + 1 < starts.Count, tiling.Overlap))];
        }

        /// <summary>
        /// Per-pixel blending weight: 1 in the middle of the tile, crossing 1/2 at each border of the owned part with
        /// a neighbour and fading linearly to 0 over a band half the overlap wide. Keeping the band in the middle of the
        /// overlap keeps pixels near the tile's edge, which lack context, out of the image.
        /// </summary>
        public Tensor BlendRamp(int factor, Device device)
        {
            using Scalar band = Math.Max(1.0, Overlap * factor / 2.0), length = Length * factor,
                ownedStart = OwnedStart * factor, ownedEnd = (OwnedStart + OwnedLength) * factor;
            var position = arange(length, ScalarType.Float32, device).add_(Half, One);
            var weight = ones(Length * factor, ScalarType.Float32, device);
            if (HasPrevious) weight = minimum(weight, ((position - ownedStart) / band).add(Half, One).clamp(Zero, One));
            if (HasNext) weight = minimum(weight, (position.negative().add(ownedEnd, One) / band).add(Half, One).clamp(Zero, One));
            return weight;
        }
    }
}
