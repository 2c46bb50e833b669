using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>x / √(mean(x²) + 1e-6) · scale, normalised in float32 whatever the model's dtype.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
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
        var rrms = rsqrt(x32.pow(2).mean([-1], keepdim: true) + 1e-6);
        return ((x32 * rrms).to(x.dtype) * scale).MoveToOuterDisposeScope();
    }
}
