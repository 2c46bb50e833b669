using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// Named tensors read on demand, one at a time: a safetensors file, a sharded checkpoint, or a view of either
/// under other names. Tensors come back on the CPU in their stored dtype unless asked otherwise.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>Where the tensors come from, for messages.</summary>
    string Description { get; }

    IReadOnlyCollection<string> Names { get; }

    bool Contains(string name);

    TensorInfo Info(string name);

    Tensor Load(string name, ScalarType? dtype = null, Device? device = null);
}
