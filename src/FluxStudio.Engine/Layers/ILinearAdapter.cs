using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// Something added to a <see cref="Linear"/>'s output at run time (a LoRA, for instance), kept apart from the base
/// weights so that it can be changed or removed without touching them.
/// </summary>
public interface ILinearAdapter
{
    /// <summary>Returns <paramref name="output"/> (the base result x·Wᵀ + b) with this adapter's contribution added.</summary>
    Tensor Adapt(Tensor input, Tensor output);
}
