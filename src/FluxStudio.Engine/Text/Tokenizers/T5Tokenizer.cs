namespace FluxStudio.Engine.Text;

/// <summary>
/// FLUX.1's T5 tokenizer (the T5 v1.1 SentencePiece unigram model, file <c>spiece.model</c>): the model's own
/// normalisation, a "▁" word prefix, consecutive unknown characters merged into one <c>&lt;unk&gt;</c>, then at
/// most <c>maxLength - 1</c> pieces, <c>&lt;/s&gt;</c> and <c>&lt;pad&gt;</c> padding, as FLUX feeds its T5
/// encoder (256 tokens for schnell, 512 for dev).
/// </summary>
/// <remarks>
/// The model is read with Google.Protobuf and segmented here rather than by Microsoft.ML.Tokenizers 2.0.1, whose
/// SentencePieceTokenizer differs from SentencePiece on repeated characters ("!!!!!!", "......", "88888888":
/// another of several equally scored segmentations) and on control characters (an <c>&lt;unk&gt;</c> each
/// instead of deleting them), and cannot load this file without patching it.
/// </remarks>
public sealed class T5Tokenizer
{
    public const string ModelFileName = "spiece.model";
    public const int SchnellMaxLength = 256;
    public const int DevMaxLength = 512;

    private const string Name = "T5";

    private readonly SentencePieceNormalizer _normalizer;
    private readonly UnigramSegmenter _segmenter;

    private T5Tokenizer(SentencePieceNormalizer normalizer, UnigramSegmenter segmenter, int endOfSentenceId, int paddingId)
    {
        _normalizer = normalizer;
        _segmenter = segmenter;
        EndOfSentenceId = endOfSentenceId;
        PaddingId = paddingId;
    }

    public int EndOfSentenceId { get; }

    public int PaddingId { get; }

    public int UnknownId => _segmenter.UnknownId;

    /// <summary>Loads the tokenizer from a folder holding <c>spiece.model</c>.</summary>
    /// <exception cref="TokenizerFileException">The file is missing or cannot be read.</exception>
    public static T5Tokenizer FromFolder(string folder)
    {
        var path = Path.Combine(folder, ModelFileName);
        if (!File.Exists(path))
        {
            var hint = File.Exists(Path.Combine(folder, "tokenizer.json"))
                ? $"The T5 tokenizer is read from {ModelFileName}; the folder only has tokenizer.json, which is not supported."
                : $"The T5 tokenizer needs {ModelFileName} in the model's 'tokenizer_2' folder.";
            throw TokenizerFileException.Missing(path, Name, hint);
        }

        var bytes = File.ReadAllBytes(path);
        SentencePieceModel model;
        SentencePieceNormalizer normalizer;
        try
        {
            model = SentencePieceModel.Parse(bytes);
            normalizer = new SentencePieceNormalizer(model.Normalizer);
        }
        catch (Exception e)
        {
            throw TokenizerFileException.Unreadable(path, Name, $"it is not a SentencePiece model ({e.Message}).", e);
        }

        if (model.Trainer.ModelType != SentencePieceModel.UnigramModelType || model.Trainer.ByteFallback
            || model.Trainer.TreatWhitespaceAsSuffix)
        {
            throw TokenizerFileException.Unreadable(path, Name,
                "it is not a unigram model without byte fallback, so it is not T5's vocabulary.");
        }
        if (model.Pieces.Any(piece => piece.Type == SentencePieceModel.PieceType.UserDefined))
        {
            throw TokenizerFileException.Unreadable(path, Name, "it has user-defined pieces, which T5's vocabulary does not have.");
        }

        // The ids transformers' T5Tokenizer uses: its eos, pad and unk tokens looked up in the model.
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = model.Pieces.Count - 1; id >= 0; id--) ids[model.Pieces[id].Text] = id;
        int Require(string piece) => ids.TryGetValue(piece, out var id)
            ? id
            : throw TokenizerFileException.Unreadable(path, Name, $"it has no '{piece}' piece, so it is not T5's vocabulary.");

        var segmenter = new UnigramSegmenter(model.Pieces, Require("<unk>"));
        return new T5Tokenizer(normalizer, segmenter, Require("</s>"), Require("<pad>"));
    }

    /// <summary>The <paramref name="maxLength"/> ids of <paramref name="prompt"/>.</summary>
    public long[] Encode(string prompt, int maxLength) => Tokenize(prompt, maxLength).Ids;

    /// <summary>The <paramref name="maxLength"/> ids of <paramref name="prompt"/> and how many it needs untruncated.</summary>
    public TokenizedPrompt Tokenize(string prompt, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var pieces = _segmenter.Segment(_normalizer.Normalize(prompt));

        var ids = new long[maxLength];
        Array.Fill(ids, PaddingId);
        var kept = Math.Min(pieces.Count, maxLength - 1);
        for (var i = 0; i < kept; i++) ids[i] = pieces[i];
        ids[kept] = EndOfSentenceId;
        return new TokenizedPrompt(ids, pieces.Count + 1);
    }
}
