using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Sampling;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Flux;

public sealed class EmbedNDTests
{
    private static readonly Scalar Mark = 1;

    private static Tensor Ids(int rows, int columns) => cat([LatentPacking.TextIds(1, 8), LatentPacking.ImageIds(1, rows, columns)], 1);

    [Fact]
    public void TheTableOfTheSameIdsIsComputedOnceAndOutlivesWhatCallersDispose()
    {
        using var embed = new EmbedND(10_000, [8, 12, 12]);
        using var ids = Ids(4, 6);
        Tensor expected;
        using (var first = embed.Forward(ids)) expected = first.clone();

        // Equal ids in another tensor, as every denoising step passes them: the kept table is handed out again.
        using var sameIds = Ids(4, 6);
        using (var second = embed.Forward(sameIds))
        {
            TensorAssert.Identical(expected, second, "kept table");
            second.add_(Mark, One); // marks the kept table, to tell it from a recomputed one
        }
        using (var third = embed.Forward(sameIds))
            TensorAssert.Identical(expected.add(Mark, One), third, "the kept table, not a new one");

        using var otherIds = Ids(6, 4);
        using var other = embed.Forward(otherIds);
        using var fresh = new EmbedND(10_000, [8, 12, 12]);
        TensorAssert.Identical(fresh.Forward(otherIds), other, "table of other ids");
    }

    [Fact]
    public void RotatingPairsMatchesTheReferenceMatrixProduct()
    {
        using var embed = new EmbedND(10_000, [8, 12, 12]);
        using var ids = Ids(3, 5);
        using var pe = embed.Forward(ids);
        var x = randn([1, 2, ids.shape[1], 32], generator: new Generator(3));
        // BFL's apply_rope: out = pe[..., 0] · x₂ᵢ + pe[..., 1] · x₂ᵢ₊₁ with pe the 2×2 matrices.
        var pairs = x.reshape(1, 2, ids.shape[1], 16, 1, 2);
        var reference = (pe.select(-1, 0) * pairs.select(-1, 0)).add(pe.select(-1, 1) * pairs.select(-1, 1), One).reshape(x.shape);
        TensorAssert.Close(reference, Attention.ApplyRope(x, pe), 1e-6, "float32");
        var half = Attention.ApplyRope(x.to(ScalarType.BFloat16), pe);
        Assert.Equal(ScalarType.BFloat16, half.dtype);
        TensorAssert.Close(reference, half.to(ScalarType.Float32), 4e-2, "bfloat16");
    }
}
