using FluxStudio.Engine.Layers;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>
/// The trainable LoRA modules of one layer, applied at run time: their outputs (in float32, whatever the model's
/// precision) are laid side by side over the layer's output rows, zeros where no module writes, and added in one go. A
/// fused layer such as a single block's <c>linear1</c> (q, k, v and the MLP input) thus costs one full-width addition,
/// not one per module.
/// </summary>
internal sealed class LoraTrainingAdapter : ILinearAdapter
{
    private readonly IReadOnlyList<TrainableLoraModule> _modules;
    private readonly long _outFeatures;

    public LoraTrainingAdapter(Linear layer, IEnumerable<TrainableLoraModule> modules)
    {
        Layer = layer;
        _outFeatures = layer.OutFeatures;
        _modules = [.. modules.OrderBy(module => module.Target.RowStart)];
    }

    public Linear Layer { get; }

    public Tensor Adapt(Tensor input, Tensor output)
    {
        using var scope = NewDisposeScope();
        var x = input.dtype == ScalarType.Float32 ? input : input.to(ScalarType.Float32);
        long[] leading = x.shape[..^1];
        var pieces = new List<Tensor>();
        long row = 0;
        foreach (var module in _modules)
        {
            if (module.Target.RowStart > row)
                pieces.Add(zeros([.. leading, module.Target.RowStart - row], ScalarType.Float32, x.device));
            pieces.Add(Linear.Product(Linear.Product(x, module.A, null), module.B, null));
            row = module.Target.RowEnd;
        }
        if (row < _outFeatures)
            pieces.Add(zeros([.. leading, _outFeatures - row], ScalarType.Float32, x.device));
        var delta = pieces.Count == 1 ? pieces[0] : cat(pieces, -1);
        return output.add(delta.to(output.dtype), One).MoveToOuterDisposeScope();
    }
}
