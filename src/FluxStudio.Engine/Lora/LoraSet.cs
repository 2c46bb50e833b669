using FluxStudio.Engine.Flux;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Lora;

/// <summary>
/// Several LoRAs attached to a transformer at once, each with its own scale, applied at run time: the base weights stay
/// untouched, so scales can change between (or during) generations without reloading anything. <see cref="Fuse"/>
/// optionally merges them into the weights for speed, after which the scales are fixed. Disposing detaches the
/// adapters (a fused merge stays in the weights: reload the model to undo it).
/// </summary>
public sealed class LoraSet : IDisposable
{
    private readonly List<AppliedLora> _loras = [];
    private readonly List<LoraAdapter> _adapters = [];
    private bool _disposed;

    private LoraSet(FluxTransformer transformer) => Transformer = transformer;

    public FluxTransformer Transformer { get; }

    public IReadOnlyList<AppliedLora> Loras => _loras;

    public bool IsFused { get; private set; }

    /// <summary>Attaches the files' modules to the transformer's layers, in the given order. The files may be disposed afterwards.</summary>
    public static LoraSet Attach(FluxTransformer transformer, IReadOnlyList<(LoraFile File, double Scale)> loras)
    {
        var layers = transformer.named_modules()
            .Where(pair => pair.module is Linear)
            .ToDictionary(pair => pair.name, pair => (Linear)pair.module, StringComparer.Ordinal);
        var set = new LoraSet(transformer);
        try
        {
            foreach (var (file, scale) in loras)
            {
                var applied = new AppliedLora(set, file, scale);
                foreach (var module in file.Modules)
                {
                    if (!layers.TryGetValue(module.Target, out var layer) || layer.InFeatures != module.Down.shape[1] ||
                        module.RowEnd > layer.OutFeatures)
                        throw new LoraFormatException(file.Path,
                            $"'{module.Source}' was mapped for another model configuration: this transformer has no layer '{module.Target}' " +
                            "of that shape. Load the LoRA with this model's configuration.");
                    set._adapters.Add(new LoraAdapter(applied, module, layer));
                }
                set._loras.Add(applied);
            }
            foreach (var adapter in set._adapters) adapter.Layer.Adapters.Add(adapter);
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>Sets the scale of the LoRA at <paramref name="index"/> (order of attachment).</summary>
    public void SetScale(int index, double scale) => _loras[index].Scale = scale;

    /// <summary>
    /// Merges every LoRA at its current scale into the base weights (float32 arithmetic, stored in the weights' dtype)
    /// and removes the run-time adapters. Irreversible for this loaded model.
    /// </summary>
    public void Fuse()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfFused();
        // Checked for every layer first, so that a refusal leaves no layer half merged.
        foreach (var adapter in _adapters) adapter.CheckFusable();
        foreach (var adapter in _adapters) adapter.MergeIntoWeight();
        Detach();
        IsFused = true;
    }

    internal void ThrowIfFused()
    {
        if (IsFused)
            throw new InvalidOperationException("These LoRAs are fused into the weights, so their scales are fixed; reload the model to change them.");
    }

    private void Detach()
    {
        foreach (var adapter in _adapters)
        {
            adapter.Layer.Adapters.Remove(adapter);
            adapter.Dispose();
        }
        _adapters.Clear();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Detach();
    }
}
