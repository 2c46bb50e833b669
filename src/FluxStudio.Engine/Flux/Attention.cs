using FluxStudio.Engine.Layers;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

public static class Attention
{
    /// <summary>softmax(q·kᵀ/√d)·v over RoPE-rotated q and k; heads merged: (B, H, L, D) → (B, L, H·D).</summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, Tensor pe)
    {
        using var scope = NewDisposeScope();
        var x = ScaledDotProductAttention.Compute(ApplyRope(q, pe), ApplyRope(k, pe), v);
        var (batch, heads, length, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return x.permute(0, 2, 1, 3).reshape(batch, length, heads * headDim).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates adjacent pairs (x₂ᵢ, x₂ᵢ₊₁) by the matrices in <paramref name="pe"/>, in float32.</summary>
    /// <remarks>
    /// A pair is the complex number x₂ᵢ + i·x₂ᵢ₊₁ and its rotation matrix [[c, −s], [s, c]] is c + i·s (the matrix's first
    /// column), so the rotation is one complex product: the reference's four products and two sums in one pass.
    /// </remarks>
    public static Tensor ApplyRope(Tensor x, Tensor pe)
    {
        using var scope = NewDisposeScope();
        var rotation = view_as_complex(pe.select(-1, 0).contiguous());
        var pairs = view_as_complex(x.to(ScalarType.Float32).reshape([.. x.shape[..^1], -1, 2]));
        return view_as_real(pairs * rotation).reshape(x.shape).to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>"B L (K H D) → K B H L D": splits a fused qkv projection into q, k, v per head.</summary>
    public static (Tensor Q, Tensor K, Tensor V) SplitHeads(Tensor qkv, int heads)
    {
        var (batch, length) = (qkv.shape[0], qkv.shape[1]);
        var split = qkv.view(batch, length, 3, heads, -1).permute(2, 0, 3, 1, 4);
        return (split[0], split[1], split[2]);
    }
}
