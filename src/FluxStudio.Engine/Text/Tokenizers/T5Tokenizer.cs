using Microsoft.ML.Tokenizers;

namespace FluxStudio.Engine.Text;

/// <summary>
/// FLUX.1's T5 tokenizer (the T5 v1.1 SentencePiece unigram model, file <c>spiece.model</c>): the model's own
/// normalisation, a "▁" word prefix, consecutive unknown characters merged into one <c>&lt;unk&gt;</c>, then at
/// most <c>maxLength - 1</c> pieces, <c>&lt;/s&gt;</c> and <c>&lt;pad&gt;</c> padding, as FLUX feeds its T5
/// encoder (256 tokens for schnell, 512 for dev).
/// </summary>
public sealed class T5Tokenizer
{
    public const string ModelFileName = "spiece.model";
    public const int SchnellMaxLength = 256;
    public const int DevMaxLength = 512;

    private const string Name = "T5";

    private readonly SentencePieceTokenizer _sentencePiece;

    private T5Tokenizer(SentencePieceTokenizer sentencePiece, int endOfSentenceId, int paddingId, int unknownId)
    {
        _sentencePiece = sentencePiece;
        EndOfSentenceId = endOfSentenceId;
        PaddingId = paddingId;
        UnknownId = unknownId;
    }

    public int EndOfSentenceId { get; }

    public int PaddingId { get; }

    public int UnknownId { get; }

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
        SentencePieceTokenizer sentencePiece;
        try
        {
            using var model = new MemoryStream(SentencePieceModelPatch.WithoutBosId(bytes));
            sentencePiece = SentencePieceTokenizer.Create(model, false, false);
        }
        catch (Exception e)
        {
            throw TokenizerFileException.Unreadable(path, Name, $"it is not a SentencePiece model ({e.Message}).", e);
        }

        // The ids transformers' T5Tokenizer uses: its eos, pad and unk tokens looked up in the model.
        return new T5Tokenizer(
            sentencePiece,
            RequirePiece(sentencePiece, "</s>", path),
            RequirePiece(sentencePiece, "<pad>", path),
            RequirePiece(sentencePiece, "<unk>", path));
    }

    /// <summary>The <paramref name="maxLength"/> ids of <paramref name="prompt"/>.</summary>
    public long[] Encode(string prompt, int maxLength) => Tokenize(prompt, maxLength).Ids;

    /// <summary>The <paramref name="maxLength"/> ids of <paramref name="prompt"/> and how many it needs untruncated.</summary>
    public TokenizedPrompt Tokenize(string prompt, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var pieces = Pieces(prompt);

        var ids = new long[maxLength];
        Array.Fill(ids, PaddingId);
        var kept = Math.Min(pieces.Count, maxLength - 1);
        for (var i = 0; i < kept; i++) ids[i] = pieces[i];
        ids[kept] = EndOfSentenceId;
        return new TokenizedPrompt(ids, pieces.Count + 1);
    }

    private List<int> Pieces(string prompt)
    {
        var ids = _sentencePiece.EncodeToIds(prompt, addBeginningOfSentence: false, addEndOfSentence: false);

        // SentencePiece itself merges a run of unknown characters into one <unk>; the .NET port emits one per
        // character.
        var pieces = new List<int>(ids.Count);
        foreach (var id in ids)
        {
            if (id == UnknownId && pieces.Count > 0 && pieces[^1] == UnknownId) continue;
            pieces.Add(id);
        }
        return pieces;
    }

    private static int RequirePiece(SentencePieceTokenizer sentencePiece, string piece, string path) =>
        sentencePiece.Vocabulary.TryGetValue(piece, out var id)
            ? id
            : throw TokenizerFileException.Unreadable(path, Name, $"it has no '{piece}' piece, so it is not a T5 vocabulary.");
}
