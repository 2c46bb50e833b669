using System.Text;

namespace FluxStudio.App.Tests.BackgroundRemoval.TestModels;

/// <summary>The few protobuf wire-format writes an ONNX model needs (varints, length-delimited fields).</summary>
internal sealed class ProtobufWriter
{
    private readonly MemoryStream _bytes = new();

    public ProtobufWriter Int(int field, long value)
    {
        Tag(field, wireType: 0);
        Varint((ulong)value);
        return this;
    }

    public ProtobufWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtobufWriter Message(int field, ProtobufWriter message) => Bytes(field, message.ToArray());

    public ProtobufWriter Bytes(int field, byte[] value)
    {
        Tag(field, wireType: 2);
        Varint((ulong)value.Length);
        _bytes.Write(value);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _bytes.WriteByte((byte)value);
    }
}
