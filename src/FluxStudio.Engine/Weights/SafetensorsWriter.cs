using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>A tensor to write whose dtype and shape are known before its values exist: they are made only when written.</summary>
public sealed record PendingTensor(string Name, ScalarType DType, long[] Shape, Func<Tensor> Values)
{
    public long ByteLength => Shape.Aggregate(1L, (count, dim) => count * dim) * SafetensorsDType.SizeOf(DType);
}

/// <summary>Writes tensors as a safetensors file, atomically (a temporary file renamed into place).</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors.Select(pair => new PendingTensor(pair.Key, pair.Value.dtype, pair.Value.shape, () => pair.Value.detach())), metadata);

    /// <summary>
    /// Writes tensors made one at a time, in name order, each released before the next is made: a file far larger than
    /// memory can be written this way.
    /// </summary>
    public static void Write(string path, IEnumerable<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = tensors.OrderBy(tensor => tensor.Name, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 })
            header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var tensor in ordered)
        {
            header[tensor.Name] = new Dictionary<string, object>
            {
                ["dtype"] = SafetensorsDType.NameOf(tensor.DType),
                ["shape"] = tensor.Shape,
                ["data_offsets"] = new[] { offset, offset + tensor.ByteLength },
            };
            offset += tensor.ByteLength;
        }

        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padding = (8 - json.Length % 8) % 8;

        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(BitConverter.GetBytes((ulong)(json.Length + padding)));
                stream.Write(json);
                for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
                foreach (var tensor in ordered)
                {
                    using var scope = NewDisposeScope();
                    var values = tensor.Values();
                    if (values.dtype != tensor.DType || !values.shape.SequenceEqual(tensor.Shape))
                        throw new InvalidOperationException(
                            $"{tensor.Name}: made {values.dtype} [{string.Join(", ", values.shape)}], announced {tensor.DType} [{string.Join(", ", tensor.Shape)}].");
                    stream.Write(values.cpu().contiguous().bytes);
                }
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
