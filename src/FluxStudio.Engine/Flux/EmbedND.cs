using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Rotary position embedding over several axes (FLUX: 3 axes of ids). For each axis a of width dₐ, pair j of
/// its head-dim segment rotates by pos · θ^(−2j/dₐ). Returns the 2×2 rotation matrices, shape
/// (B, 1, L, head_dim/2, 2, 2), computed in float32 (MPS has no float64).
/// </summary>
public sealed class EmbedND(double theta, IReadOnlyList<int> axesDim)
{
    public Tensor Forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var perAxis = axesDim.Select((dim, axis) => Rope(ids.select(-1, axis), dim)).ToArray();
        return cat(perAxis, -3).unsqueeze(1).MoveToOuterDisposeScope();
    }

    private Tensor Rope(Tensor positions, int dim)
    {
        var scale = arange(0, dim, 2, ScalarType.Float32, positions.device) / dim;
        var omega = 1.0f / pow(tensor((float)theta, device: positions.device), scale);
        var angles = positions.to(ScalarType.Float32).unsqueeze(-1) * omega;
        var (c, s) = (cos(angles), sin(angles));
        var matrices = stack([c, -s, s, c], -1);
        return matrices.view([.. angles.shape, 2, 2]);
    }
}
