using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>
/// T5's layer norm: x / sqrt(mean(x²) + eps) · weight, without mean subtraction or bias. The statistics are taken in
/// float32 whatever the compute dtype, as the reference does for half-precision stability.
/// </summary>
public sealed class T5RmsNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    private readonly Parameter weight;
#pragma warning restore IDE1006
    private readonly double _eps;

    public T5RmsNorm(long size, double eps, ScalarType dtype, Device device) : base(nameof(T5RmsNorm))
    {
        _eps = eps;
        weight = nn.Parameter(ones([size], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var eps = _eps.ToScalar();
        var variance = hidden.to(ScalarType.Float32).pow(Two).mean([-1], keepdim: true);
        var normalized = hidden * variance.add(eps, One).rsqrt();
        return weight * normalized.to(weight.dtype);
    }
}
