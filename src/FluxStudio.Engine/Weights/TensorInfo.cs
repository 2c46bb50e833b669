using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>What a weight file says about one tensor, before any data is read.</summary>
public sealed record TensorInfo(string Name, ScalarType DType, long[] Shape, long ByteOffset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (count, dim) => count * dim);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
