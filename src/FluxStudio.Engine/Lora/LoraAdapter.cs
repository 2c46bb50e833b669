using FluxStudio.Engine.Layers;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Lora;

/// <summary>
/// One LoRA module attached to one linear layer: y[rows] += scale × factor × (x·downᵀ)·upᵀ, computed in float32 and
/// reading the scale of its <see cref="AppliedLora"/> on every call, so a new scale takes effect without a reload.
/// </summary>
internal sealed class LoraAdapter : ILinearAdapter, IDisposable
{
    private readonly AppliedLora _owner;
    private readonly long _outFeatures;

    public LoraAdapter(AppliedLora owner, LoraModule module, Linear layer)
    {
        _owner = owner;
        Module = module;
        Layer = layer;
        _outFeatures = layer.OutFeatures;
        var device = layer.Device;
        Down = module.Down.to(device).DetachFromDisposeScope();
        Up = module.Up.to(device).DetachFromDisposeScope();
    }

    public LoraModule Module { get; }

    public Linear Layer { get; }

    public Tensor Down { get; }

    public Tensor Up { get; }

    public double Strength => _owner.Scale * Module.Factor;

    public Tensor Adapt(Tensor input, Tensor output)
    {
        double strength = Strength;
        if (strength == 0) return output;
        using var scope = NewDisposeScope();
        var x = input.dtype == ScalarType.Float32 ? input : input.to(ScalarType.Float32);
        using var scale = strength.ToScalar();
        var delta = Linear.Product(Linear.Product(x, Down, null), Up, null).mul(scale);
        if (Module.RowStart != 0 || Module.RowEnd != _outFeatures)
            delta = nn.functional.pad(delta, [Module.RowStart, _outFeatures - Module.RowEnd]);
        return output.add(delta.to(output.dtype), One).MoveToOuterDisposeScope();
    }

    public void CheckFusable()
    {
        if (!Layer.weight.is_floating_point() || Layer.weight.numel() != Layer.InFeatures * Layer.OutFeatures)
            throw new InvalidOperationException(
                $"'{Module.Target}' does not hold plain floating-point weights (quantized?), so LoRAs cannot be fused into it; " +
                "leave them applied at run time (the default), which works on any weights.");
    }

    /// <summary>W[rows] += strength × up·down, in float32, written back in the weight's dtype.</summary>
    public void MergeIntoWeight()
    {
        double strength = Strength;
        if (strength == 0) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var rows = Layer.weight.narrow(0, Module.RowStart, Module.Rows);
        using var scale = strength.ToScalar();
        var merged = rows.to(ScalarType.Float32).add(Up.matmul(Down).mul(scale), One);
        rows.copy_(merged.to(rows.dtype));
    }

    public void Dispose()
    {
        Down.Dispose();
        Up.Dispose();
    }
}
