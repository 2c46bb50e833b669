using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>x / √(mean(x²) + 1e-6) · scale, normalised in float32 whatever the model's dtype.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    private static readonly Scalar Epsilon = 1e-6;

#pragma warning disable IDE1006 // checkpoint name
    public readonly Parameter scale;
#pragma warning restore IDE1006

    public RMSNorm(long dim, ScalarType dtype, Device? device) : base(nameof(RMSNorm))
    {
        scale = nn.Parameter(empty([dim], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to(ScalarType.Float32);
        // ‖x‖² / d is mean(x²) in one pass, without a squared copy of x. Tensor.norm passes p to libtorch as a number;
        // linalg.vector_norm would wrap it in a temporary Scalar that the finalizer can free during the call.
        using var width = x.shape[^1].ToScalar();
        var meanSquare = x32.norm(-1, keepdim: true, p: 2).pow(Two) / width;
        var normalized = (x32 * rsqrt(meanSquare.add(Epsilon, One))).to(x.dtype);
        // The product is a new tensor: scaling it in place is safe unless autograd records it.
        return (is_grad_enabled() ? normalized * scale : normalized.mul_(scale)).MoveToOuterDisposeScope();
    }
}
