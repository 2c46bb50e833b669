using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// x·Wᵀ + b on a quantized weight that passes the gradient on to x, as QLoRA training needs: the frozen weight gets
/// no gradient, but LoRA factors in earlier layers do, through this layer's input. The backward pass dequantizes W
/// again in row blocks (grad_x = Σ grad_y[rows]·W[rows]), so neither pass keeps a dense copy of the weight alive.
/// </summary>
internal sealed class DifferentiableQuantizedLinear : autograd.SingleTensorFunction<DifferentiableQuantizedLinear>
{
    private const string WeightKey = "weight";

    public override string Name => nameof(DifferentiableQuantizedLinear);

    /// <summary>
    /// The layer's output; differentiable with respect to <paramref name="input"/> when autograd records it, else the plain
    /// <see cref="QuantizedWeight.Linear"/>.
    /// </summary>
    public static Tensor Linear(QuantizedWeight weight, Tensor input, Tensor? bias) =>
        input.requires_grad && is_grad_enabled() ? apply(weight, input, bias) : weight.Linear(input, bias);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var weight = (QuantizedWeight)vars[0];
        ctx.save_data(WeightKey, weight);
        return weight.Linear((Tensor)vars[1], vars[2] as Tensor);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (QuantizedWeight)ctx.get_data(WeightKey);
        long rowsPerBlock = Math.Max(1, Math.Min(weight.OutFeatures, QuantizedWeight.DefaultBlockElements / weight.InFeatures));
        Tensor? gradInput = null;
        using (var scope = NewDisposeScope())
        {
            for (long start = 0; start < weight.OutFeatures; start += rowsPerBlock)
            {
                long rows = Math.Min(rowsPerBlock, weight.OutFeatures - start);
                using var dense = weight.Dequantize(gradOutput.dtype, start, rows);
                var part = gradOutput.narrow(-1, start, rows).matmul(dense);
                gradInput = gradInput is null ? part : gradInput.add_(part, One);
            }
            gradInput!.DetachFromDisposeScope();
        }
        // One gradient per argument of apply: the weight object and the bias get none (both frozen).
        return [null!, gradInput, null!];
    }
}
