using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>The safetensors dtype names and their libtorch scalar types.</summary>
public static class SafetensorsDType
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> ByName = new(StringComparer.Ordinal)
    {
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["F16"] = (ScalarType.Float16, 2),
        ["F32"] = (ScalarType.Float32, 4),
        ["F64"] = (ScalarType.Float64, 8),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
        // libtorch has no unsigned 64-bit type: read as int64, the same bytes for values below 2⁶³ (MLX stores its
        // optimizer's step count so). Never written: int64 tensors are stored as I64.
        ["U64"] = (ScalarType.Int64, 8),
    };

    public static IReadOnlyCollection<string> Names => ByName.Keys;

    public static bool TryParse(string name, out ScalarType type, out int elementSize)
    {
        if (ByName.TryGetValue(name, out var entry))
        {
            (type, elementSize) = entry;
            return true;
        }
        (type, elementSize) = (default, 0);
        return false;
    }

    public static string NameOf(ScalarType type) =>
        ByName.FirstOrDefault(pair => pair.Value.Type == type && pair.Key != "U64").Key
        ?? throw new NotSupportedException($"Tensors of type {type} cannot be stored in safetensors.");

    public static int SizeOf(ScalarType type) =>
        ByName.Values.FirstOrDefault(entry => entry.Type == type).Size is var size and > 0
            ? size
            : throw new NotSupportedException($"Tensors of type {type} cannot be stored in safetensors.");
}
