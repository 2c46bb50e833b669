using Google.Protobuf;

namespace FluxStudio.Engine.Text;

/// <summary>
/// Makes T5's <c>spiece.model</c> loadable by Microsoft.ML.Tokenizers 2.0.1, which fails with an
/// IndexOutOfRangeException on <c>trainer_spec.bos_id = -1</c> (T5 has no beginning-of-sentence piece). The field
/// is dropped so the loader sees its default; no BOS token is ever requested, so the ids do not change.
/// </summary>
internal static class SentencePieceModelPatch
{
    private const int TrainerSpecField = 2; // ModelProto.trainer_spec
    private const int BosIdField = 41; // TrainerSpec.bos_id

    /// <exception cref="InvalidProtocolBufferException">The bytes are not a protocol buffer.</exception>
    /// <exception cref="InvalidDataException">The trainer spec is not a message.</exception>
    public static byte[] WithoutBosId(byte[] model) =>
        RewriteField(model, TrainerSpecField, trainerSpec => RewriteField(trainerSpec, BosIdField, replace: null));

    /// <summary>
    /// Copies <paramref name="message"/> byte for byte except every occurrence of <paramref name="field"/>, which
    /// is dropped when <paramref name="replace"/> is null, or else (a length-delimited field) gets the payload
    /// that <paramref name="replace"/> makes of its payload.
    /// </summary>
    private static byte[] RewriteField(byte[] message, int field, Func<byte[], byte[]>? replace)
    {
        var input = new CodedInputStream(message);
        using var output = new MemoryStream(message.Length);
        while (true)
        {
            var start = (int)input.Position;
            var tag = input.ReadTag();
            if (tag == 0) return output.ToArray();

            if (WireFormat.GetTagFieldNumber(tag) != field)
            {
                input.SkipLastField();
                output.Write(message, start, (int)input.Position - start);
            }
            else if (replace is null)
            {
                input.SkipLastField();
            }
            else if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                var payload = replace(input.ReadBytes().ToByteArray());
                var header = new CodedOutputStream(output, leaveOpen: true);
                header.WriteTag(tag);
                header.WriteLength(payload.Length);
                header.Flush();
                output.Write(payload);
            }
            else
            {
                throw new InvalidDataException($"Field {field} is not a nested message.");
            }
        }
    }
}
