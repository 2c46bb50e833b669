using Google.Protobuf;

namespace FluxStudio.Engine.Text;

/// <summary>The parts of a SentencePiece <c>ModelProto</c> (<c>spiece.model</c>) that unigram encoding needs.</summary>
internal sealed class SentencePieceModel
{
    public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    public readonly record struct Piece(string Text, float Score, PieceType Type);

    private SentencePieceModel(List<Piece> pieces, NormalizerSpec normalizer, TrainerSpec trainer)
    {
        Pieces = pieces;
        Normalizer = normalizer;
        Trainer = trainer;
    }

    public IReadOnlyList<Piece> Pieces { get; }

    public NormalizerSpec Normalizer { get; }

    public TrainerSpec Trainer { get; }

    public sealed record NormalizerSpec(byte[] PrecompiledCharsMap, bool AddDummyPrefix, bool RemoveExtraWhitespaces, bool EscapeWhitespaces);

    public sealed record TrainerSpec(int ModelType, bool ByteFallback, bool TreatWhitespaceAsSuffix);

    public const int UnigramModelType = 1;

    /// <exception cref="InvalidProtocolBufferException">The bytes are not a SentencePiece model.</exception>
    public static SentencePieceModel Parse(byte[] bytes)
    {
        var pieces = new List<Piece>();
        var normalizer = new NormalizerSpec([], AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true);
        var trainer = new TrainerSpec(UnigramModelType, ByteFallback: false, TreatWhitespaceAsSuffix: false);

        var input = new CodedInputStream(bytes);
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: pieces.Add(ParsePiece(input.ReadBytes())); break;
                case 2: trainer = ParseTrainerSpec(input.ReadBytes(), trainer); break;
                case 3: normalizer = ParseNormalizerSpec(input.ReadBytes(), normalizer); break;
                default: input.SkipLastField(); break;
            }
        }
        return new SentencePieceModel(pieces, normalizer, trainer);
    }

    private static Piece ParsePiece(ByteString bytes)
    {
        var (text, score, type) = ("", 0f, PieceType.Normal);
        var input = bytes.CreateCodedInput();
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: text = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = (PieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new Piece(text, score, type);
    }

    private static TrainerSpec ParseTrainerSpec(ByteString bytes, TrainerSpec spec)
    {
        var input = bytes.CreateCodedInput();
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            spec = WireFormat.GetTagFieldNumber(tag) switch
            {
                3 => spec with { ModelType = input.ReadEnum() },
                24 => spec with { TreatWhitespaceAsSuffix = input.ReadBool() },
                35 => spec with { ByteFallback = input.ReadBool() },
                _ => Skip(input, spec),
            };
        }
        return spec;
    }

    private static NormalizerSpec ParseNormalizerSpec(ByteString bytes, NormalizerSpec spec)
    {
        var input = bytes.CreateCodedInput();
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            spec = WireFormat.GetTagFieldNumber(tag) switch
            {
                2 => spec with { PrecompiledCharsMap = input.ReadBytes().ToByteArray() },
                3 => spec with { AddDummyPrefix = input.ReadBool() },
                4 => spec with { RemoveExtraWhitespaces = input.ReadBool() },
                5 => spec with { EscapeWhitespaces = input.ReadBool() },
                _ => Skip(input, spec),
            };
        }
        return spec;
    }

    private static T Skip<T>(CodedInputStream input, T unchanged)
    {
        input.SkipLastField();
        return unchanged;
    }
}
