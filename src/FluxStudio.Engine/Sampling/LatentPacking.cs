using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Sampling;

/// <summary>
/// FLUX works on 2×2 patches of the VAE latent: "b c (h 2) (w 2) → b (h w) (c 2 2)". Token index = row·W + col;
/// feature index = channel·4 + dy·2 + dx.
/// </summary>
public static class LatentPacking
{
    public static Tensor Pack(Tensor latent)
    {
        var (b, c, h, w) = (latent.shape[0], latent.shape[1], latent.shape[2], latent.shape[3]);
        if (h % 2 != 0 || w % 2 != 0)
            throw new ArgumentException($"latent height and width must be even, got {h}×{w}.", nameof(latent));
        return latent.view(b, c, h / 2, 2, w / 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, h / 2 * (w / 2), c * 4);
    }

    public static Tensor Unpack(Tensor packed, long rows, long columns)
    {
        var (b, tokens, features) = (packed.shape[0], packed.shape[1], packed.shape[2]);
        if (tokens != rows * columns)
            throw new ArgumentException($"{tokens} tokens cannot form a {rows}×{columns} grid.", nameof(packed));
        long channels = features / 4;
        return packed.view(b, rows, columns, channels, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, channels, rows * 2, columns * 2);
    }

    /// <summary>Position ids (B, rows·columns, 3): (0, row, column) per token, float32.</summary>
    public static Tensor ImageIds(long batch, long rows, long columns, Device? device = null)
    {
        using var scope = NewDisposeScope();
        using var rowCount = rows.ToScalar();
        using var columnCount = columns.ToScalar();
        var rowIds = arange(rowCount, ScalarType.Float32, device).view(rows, 1).expand(rows, columns);
        var columnIds = arange(columnCount, ScalarType.Float32, device).view(1, columns).expand(rows, columns);
        var ids = stack([zeros(rows, columns, ScalarType.Float32, device), rowIds, columnIds], -1);
        return ids.reshape(1, rows * columns, 3).expand(batch, -1, -1).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Text position ids: all zeros, so text tokens get no rotation.</summary>
    public static Tensor TextIds(long batch, long length, Device? device = null) =>
        zeros(batch, length, 3, ScalarType.Float32, device);
}
