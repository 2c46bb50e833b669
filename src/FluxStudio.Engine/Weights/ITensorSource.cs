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

    /// <summary>
    /// Writes a tensor into <paramref name="target"/> (same shape), converting dtype and device as needed. Sources that
    /// can read straight into the target's memory do so, without an intermediate copy.
    /// </summary>
    void LoadInto(string name, Tensor target)
    {
        using var value = Load(name);
        using var _ = no_grad();
        target.copy_(value);
    }

    /// <summary>
    /// Called by a loader once it has every tensor it needs: a source that left work for the end (making mapped weights
    /// resident, all at once and on every core) does it here, and reports a file cut short since it was opened.
    /// </summary>
    void CompleteLoading()
    {
    }
}
