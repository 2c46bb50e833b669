using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Rotary position embedding over several axes (FLUX: 3 axes of ids). For each axis a of width dₐ, pair j of
/// its head-dim segment rotates by pos · θ^(−2j/dₐ). Returns the 2×2 rotation matrices, shape
/// (B, 1, L, head_dim/2, 2, 2), computed in float32 (MPS has no float64).
/// </summary>
/// <remarks>
/// Every denoising step of a generation asks for the table of the same ids, so the table of the last ids is kept and
/// handed out again (as an alias: callers may dispose what they get) instead of being computed once per step.
/// </remarks>
public sealed class EmbedND(double theta, IReadOnlyList<int> axesDim) : IDisposable
{
    private readonly Lock _gate = new();
    private (Tensor Ids, Tensor Table)? _last;

    public Tensor Forward(Tensor ids)
    {
        lock (_gate)
        {
            if (_last is not { } last || !SameIds(last.Ids, ids))
            {
                Forget();
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var perAxis = axesDim.Select((dim, axis) => Rope(ids.select(-1, axis), dim)).ToArray();
                var table = cat(perAxis, -3).unsqueeze(1);
                last = (ids.detach().clone().DetachFromDisposeScope(), table.DetachFromDisposeScope());
                _last = last;
            }
            return last.Table.alias();
        }
    }

    private Tensor Rope(Tensor positions, int dim)
    {
        using var width = dim.ToScalar();
        var scale = arange(Zero, width, Two, ScalarType.Float32, positions.device) / width;
        var omega = pow(tensor((float)theta, device: positions.device), scale).reciprocal();
        var angles = positions.to(ScalarType.Float32).unsqueeze(-1) * omega;
        var (c, s) = (cos(angles), sin(angles));
        var matrices = stack([c, -s, s, c], -1);
        return matrices.view([.. angles.shape, 2, 2]);
    }

    private static bool SameIds(Tensor kept, Tensor ids)
    {
        if (!kept.shape.SequenceEqual(ids.shape) || kept.dtype != ids.dtype
            || kept.device_type != ids.device_type || kept.device_index != ids.device_index)
            return false;
        using var scope = NewDisposeScope();
        return kept.eq(ids).all().item<bool>();
    }

    private void Forget()
    {
        _last?.Ids.Dispose();
        _last?.Table.Dispose();
        _last = null;
    }

    public void Dispose()
    {
        lock (_gate) Forget();
    }
}
