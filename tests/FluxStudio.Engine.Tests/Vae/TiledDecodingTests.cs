using FluxStudio.Engine;
using FluxStudio.Engine.Vae;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Vae;

public sealed class TiledDecodingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(40, 16, 8, new[] { 0, 8, 16, 24 })]
    [InlineData(40, 24, 8, new[] { 0, 16 })]
    [InlineData(41, 24, 8, new[] { 0, 16, 17 })]
    [InlineData(24, 24, 8, new[] { 0 })]
    [InlineData(10, 64, 16, new[] { 0 })]
    public void TilesCoverTheAxisOverlapAndEndAtTheEdge(int length, int tile, int overlap, int[] expected)
    {
        var starts = new VaeTiling(tile, overlap).TileStarts(length);
        Assert.Equal(expected, starts);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(16, 16)]
    [InlineData(16, -1)]
    public void ImpossibleTilingsAreRefused(int tile, int overlap) =>
        Assert.Throws<ArgumentException>(() => new VaeTiling(tile, overlap).Validate());

    [Fact]
    public void ALatentThatFitsOneTileDecodesExactlyAsAWhole()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoEncoder.Load(VaeGoldens.BflFile);
        var latent = VaeGoldens.Load("latent");

        Assert.Equal(0, TensorAssert.MaxAbsDiff(vae.Decode(latent), vae.DecodeTiled(latent, new VaeTiling(24, 8))));
    }

    [Fact]
    public void WithSharedStatisticsAndWideOverlapsTilingReproducesTheWholeDecode()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoEncoder.Load(VaeGoldens.BflFile);
        var latent = randn(1, 4, 8, 40, generator: new Generator(5));
        // The tiny up path has 9 GroupNorms and a receptive field of 7 latent pixels: 9 passes make every norm's
        // statistics exact, and an overlap of 28 keeps the blended pixels 7 or more away from any tile's edge.
        var tiling = new VaeTiling(TileSize: 32, Overlap: 28, StatisticsPasses: 9);
        Assert.Equal([0, 4, 8], tiling.TileStarts(40));

        var diff = TensorAssert.MaxAbsDiff(vae.Decode(latent), vae.DecodeTiled(latent, tiling));

        output.WriteLine($"exact tiling vs whole: max {diff:E2}");
        Assert.True(diff < 1e-5, $"tiled decode differs by {diff}");
    }

    [Fact]
    public void DefaultTilingIsCloseToTheWholeDecodeAndSharedStatisticsBeatPerTileOnes()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoEncoder.Load(VaeGoldens.BflFile);
        var latent = randn(1, 4, 40, 48, generator: new Generator(11));
        var reports = new List<double>();

        var whole = vae.Decode(latent);
        var shared = vae.DecodeTiled(latent, new VaeTiling(TileSize: 24, Overlap: 8), new SynchronousProgress<double>(reports.Add));
        var perTile = vae.DecodeTiled(latent, new VaeTiling(TileSize: 24, Overlap: 8, StatisticsPasses: 0));

        var (sharedMax, sharedMean) = Difference(shared, whole);
        var (perTileMax, perTileMean) = Difference(perTile, whole);
        output.WriteLine($"range {whole.abs().max().item<float>():F2}; shared statistics: max {sharedMax:E2}, mean {sharedMean:E2}; " +
                         $"per-tile statistics: max {perTileMax:E2}, mean {perTileMean:E2}");
        // 2 × 3 tiles, decoded twice (one statistics pass, one output pass).
        Assert.Equal(Enumerable.Range(1, 12).Select(step => step / 12.0), reports, new ToleranceComparer(1e-9));
        // Measured: shared 0.020 max / 0.004 mean, per tile 0.18 / 0.03, on outputs reaching ±2.8. The remaining gap
        // comes from pixels within the receptive field of a tile's edge; a misplaced tile would be off by O(1).
        Assert.True(sharedMax < 0.05 && sharedMean < 0.01, $"shared statistics: max {sharedMax}, mean {sharedMean}");
        Assert.True(perTileMax < 0.25 && perTileMean < 0.05, $"per-tile statistics: max {perTileMax}, mean {perTileMean}");
        Assert.True(sharedMean < perTileMean / 2, "shared statistics should bring tiles much closer to the whole decode");
    }

    private static (float Max, float Mean) Difference(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var difference = (actual - expected).abs();
        return (difference.max().item<float>(), difference.mean().item<float>());
    }

    [Fact]
    public void TiledDecodingStopsWhenCancelled()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoEncoder.Load(VaeGoldens.BflFile);
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.Throws<OperationCanceledException>(
            () => vae.DecodeTiled(zeros(1, 4, 40, 40), new VaeTiling(16, 4), cancellationToken: cancellation.Token));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(double value) => 0;
    }
}
