using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// Presents each prepared layer's dense <c>weight</c> as <c>qweight</c>, <c>scales</c> and <c>biases</c>. A weight is
/// read and quantized when the first of its three tensors is asked for and kept until another layer's is, so a
/// loader that takes a layer's tensors together (as <see cref="WeightLoader"/> does with buffers registered together)
/// quantizes each weight once and holds one dense weight at a time.
/// </summary>
internal sealed class QuantizingTensorSource : ITensorSource
{
    private static readonly string[] Parts = ["qweight", "scales", "biases"];

    private readonly ITensorSource _inner;
    private readonly QuantizationReport _layers;
    private readonly List<string> _names;
    private (string Layer, QuantizedWeight Weight)? _current;

    public QuantizingTensorSource(ITensorSource inner, QuantizationReport layers)
    {
        _inner = inner;
        _layers = layers;
        _names = [];
        foreach (var name in inner.Names)
        {
            if (name.EndsWith(".weight", StringComparison.Ordinal) && layers.QuantizedGroupSizes.ContainsKey(Layer(name, ".weight")))
                _names.AddRange(Parts.Select(part => $"{Layer(name, ".weight")}.{part}"));
            else
                _names.Add(name);
        }
        Description = $"{inner.Description} (quantized to {layers.Bits} bits while loading)";
    }

    public string Description { get; }

    public IReadOnlyCollection<string> Names => _names;

    public bool Contains(string name) => Split(name) is { } split ? _inner.Contains($"{split.Layer}.weight") : _inner.Contains(name);

    public TensorInfo Info(string name)
    {
        if (Split(name) is not { } split) return _inner.Info(name);
        var dense = _inner.Info($"{split.Layer}.weight");
        if (dense.Shape.Length != 2) return dense with { Name = name };
        var (packed, scales) = QuantizedWeight.StorageShapes(dense.Shape[0], dense.Shape[1], _layers.Bits, _layers.QuantizedGroupSizes[split.Layer]);
        return split.Part == "qweight"
            ? new TensorInfo(name, ScalarType.Byte, packed, -1, packed[0] * packed[1])
            : new TensorInfo(name, ScalarType.BFloat16, scales, -1, 2 * scales[0] * scales[1]);
    }

    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (Split(name) is not { } split) return _inner.Load(name, dtype, device);
        if (_current?.Layer != split.Layer)
        {
            Release();
            using var dense = _inner.Load($"{split.Layer}.weight", ScalarType.Float32);
            var weight = QuantizedWeight.Quantize(dense, _layers.Bits, _layers.QuantizedGroupSizes[split.Layer]);
            weight.Packed.DetachFromDisposeScope();
            weight.Scales.DetachFromDisposeScope();
            weight.Biases.DetachFromDisposeScope();
            _current = (split.Layer, weight);
        }
        var stored = split.Part switch
        {
            "qweight" => _current!.Value.Weight.Packed,
            "scales" => _current!.Value.Weight.Scales,
            _ => _current!.Value.Weight.Biases,
        };
        return stored.to(dtype ?? stored.dtype, device ?? CPU, copy: true);
    }

    private (string Layer, string Part)? Split(string name)
    {
        foreach (var part in Parts)
            if (name.EndsWith("." + part, StringComparison.Ordinal) && _layers.QuantizedGroupSizes.ContainsKey(Layer(name, "." + part)))
                return (Layer(name, "." + part), part);
        return null;
    }

    private static string Layer(string name, string suffix) => name[..^suffix.Length];

    private void Release()
    {
        if (_current is not { } current) return;
        current.Weight.Packed.Dispose();
        current.Weight.Scales.Dispose();
        current.Weight.Biases.Dispose();
        _current = null;
    }

    public void CompleteLoading() => _inner.CompleteLoading();

    public void Dispose()
    {
        Release();
        _inner.Dispose();
    }
}
