using FluxStudio.Engine.Weights;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// Which linear layers of a module were quantized, and which stayed dense: those the model keeps in full precision
/// (<see cref="IFullPrecisionLayers"/>) and those no group size fits.
/// </summary>
public sealed record QuantizationReport(int Bits, long GroupSize, IReadOnlyDictionary<string, long> QuantizedGroupSizes,
    IReadOnlyList<string> LeftDense);

/// <summary>Quantizes the <see cref="Linear"/> layers of a module, in place or as its weights are loaded.</summary>
public static class Quantizer
{
    public const int DefaultGroupSize = 64;

    /// <summary>Quantizes every linear layer of an already loaded module (its dense weights are released one by one).</summary>
    public static QuantizationReport QuantizeModule(nn.Module module, int bits, long groupSize = DefaultGroupSize) =>
        Apply(module, bits, groupSize, (linear, group) => linear.Quantize(bits, group));

    /// <summary>
    /// Gives every linear layer empty quantized storage, for <see cref="QuantizeWhileLoading"/>: the dense weights are
    /// released before any are read, so the full-precision model never exists in memory.
    /// </summary>
    public static QuantizationReport PrepareForQuantizedLoading(nn.Module module, int bits, long groupSize = DefaultGroupSize) =>
        Apply(module, bits, groupSize, (linear, group) =>
            linear.UseQuantized(QuantizedWeight.Empty(linear.OutFeatures, linear.InFeatures, bits, group, linear.Device)));

    /// <summary>
    /// A view of <paramref name="source"/> (names already the module's) in which the dense weights of the prepared
    /// layers appear as their quantized tensors, quantized tensor by tensor as a weight loader asks for them.
    /// </summary>
    public static ITensorSource QuantizeWhileLoading(ITensorSource source, QuantizationReport prepared) =>
        new QuantizingTensorSource(source, prepared);

    /// <summary>
    /// Gives every linear layer that <paramref name="stored"/> holds quantized (a <c>qweight</c> tensor) empty storage of
    /// the stored shapes, so that a weight loader can fill it. The bit width comes from the file's metadata.
    /// </summary>
    /// <exception cref="QuantizedModelException">The stored shapes do not fit the layer and bit width.</exception>
    public static QuantizationReport PrepareForStoredWeights(nn.Module module, ITensorSource stored, int bits)
    {
        var quantized = new Dictionary<string, long>(StringComparer.Ordinal);
        var dense = new List<string>();
        foreach (var (name, linear) in Linears(module))
        {
            if (!stored.Contains($"{name}.qweight"))
            {
                dense.Add(name);
                continue;
            }
            var packed = stored.Info($"{name}.qweight");
            var scales = stored.Contains($"{name}.scales") ? stored.Info($"{name}.scales") : null;
            string expectedPacked = $"[{linear.OutFeatures}, {linear.InFeatures * bits / 8}]";
            if (scales == null || scales.Shape.Length != 2 || scales.Shape[1] == 0 || linear.InFeatures % scales.Shape[1] != 0
                || packed.DType != ScalarType.Byte || packed.ShapeText != expectedPacked)
                throw new QuantizedModelException(stored.Description,
                    $"layer '{name}' does not fit {bits}-bit storage of a [{linear.OutFeatures}, {linear.InFeatures}] weight " +
                    $"(qweight {packed.DType} {packed.ShapeText}, expected Byte {expectedPacked}; scales {scales?.ShapeText ?? "missing"})");
            long group = linear.InFeatures / scales.Shape[1];
            linear.UseQuantized(QuantizedWeight.Empty(linear.OutFeatures, linear.InFeatures, bits, group, linear.Device));
            quantized[name] = group;
        }
        long typical = quantized.Count == 0 ? 0 : quantized.Values.GroupBy(g => g).MaxBy(g => g.Count())!.Key;
        return new QuantizationReport(bits, typical, quantized, dense);
    }

    /// <summary>Bytes held by a module's parameters and buffers (quantized storage included).</summary>
    public static long ResidentBytes(nn.Module module) =>
        module.parameters().Sum(p => p.NumberOfElements * p.ElementSize)
        + module.buffers().Sum(b => b.NumberOfElements * b.ElementSize);

    private static QuantizationReport Apply(nn.Module module, int bits, long groupSize, Action<Linear, long> quantize)
    {
        if (!QuantizedWeight.SupportedBits.Contains(bits))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Quantization supports 4 or 8 bits.");
        var quantized = new Dictionary<string, long>(StringComparer.Ordinal);
        var dense = new List<string>();
        foreach (var (name, linear) in Linears(module))
        {
            if (linear.Quantized != null) continue;
            if (module is IFullPrecisionLayers model && model.StaysFullPrecision(name))
            {
                dense.Add(name);
                continue;
            }
            if (QuantizedWeight.GroupSizeFor(linear.InFeatures, groupSize) is not { } group)
            {
                dense.Add(name);
                continue;
            }
            quantize(linear, group);
            quantized[name] = group;
        }
        return new QuantizationReport(bits, groupSize, quantized, dense);
    }

    private static IEnumerable<(string Name, Linear Layer)> Linears(nn.Module module) =>
        module.named_modules().Where(m => m.module is Linear).Select(m => (m.name, (Linear)m.module)).ToList();
}
