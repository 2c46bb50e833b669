using Microsoft.ML.Tokenizers;

namespace FluxStudio.Engine.Text;

/// <summary>
/// FLUX.1's CLIP tokenizer (CLIP ViT-L/14 byte-level BPE, files <c>vocab.json</c> and <c>merges.txt</c>): the
/// prompt is cleaned (<see cref="ClipTextNormalizer"/>), split into words (<see cref="ClipPreTokenizer"/>) and
/// each word encoded by byte-level BPE with <c>&lt;/w&gt;</c> marking its end. The encoder takes
/// <c>&lt;|startoftext|&gt;</c>, at most 75 tokens, <c>&lt;|endoftext|&gt;</c>, then <c>&lt;|endoftext|&gt;</c>
/// padding up to 77, as FLUX pads it.
/// </summary>
public sealed class ClipTokenizer
{
    public const int MaxLength = 77;
    public const string VocabularyFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";

    private const string Name = "CLIP";

    private readonly BpeTokenizer _bpe;

    private ClipTokenizer(BpeTokenizer bpe, int startOfTextId, int endOfTextId)
    {
        _bpe = bpe;
        StartOfTextId = startOfTextId;
        EndOfTextId = endOfTextId;
    }

    public int StartOfTextId { get; }

    /// <summary>End of text, also the padding id.</summary>
    public int EndOfTextId { get; }

    /// <summary>Loads the tokenizer from a folder holding <c>vocab.json</c> and <c>merges.txt</c>.</summary>
    /// <exception cref="TokenizerFileException">A file is missing or cannot be read.</exception>
    public static ClipTokenizer FromFolder(string folder)
    {
        var vocabularyPath = Path.Combine(folder, VocabularyFileName);
        var mergesPath = Path.Combine(folder, MergesFileName);
        foreach (var path in (string[])[vocabularyPath, mergesPath])
        {
            if (!File.Exists(path))
            {
                throw TokenizerFileException.Missing(path, Name,
                    $"The CLIP tokenizer needs {VocabularyFileName} and {MergesFileName} in the model's 'tokenizer' folder.");
            }
        }

        var vocabulary = ReadVocabulary(vocabularyPath);
        var specialTokens = new Dictionary<string, int>
        {
            [ClipPreTokenizer.StartOfText] = RequireToken(vocabulary, ClipPreTokenizer.StartOfText, vocabularyPath),
            [ClipPreTokenizer.EndOfText] = RequireToken(vocabulary, ClipPreTokenizer.EndOfText, vocabularyPath),
        };

        var merges = ReadMerges(mergesPath);
        // CLIP's vocabulary is the 256 byte symbols, the same with </w>, one token per merge rule and the two
        // special tokens, so a merges.txt cut short shows as a vocabulary larger than its rules explain.
        if (merges.Count + 2 * 256 + specialTokens.Count < vocabulary.Count)
        {
            throw TokenizerFileException.Unreadable(mergesPath, Name,
                $"it has {merges.Count} merge rules, too few for the {vocabulary.Count} tokens of {VocabularyFileName}.");
        }
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges,
                Normalizer = ClipTextNormalizer.Instance,
                PreTokenizer = ClipPreTokenizer.Instance,
                SpecialTokens = specialTokens,
                EndOfWordSuffix = "</w>",
                ByteLevel = true,
            });
        }
        catch (Exception e) when (e is not TokenizerFileException)
        {
            throw TokenizerFileException.Unreadable(mergesPath, Name, $"its merge rules do not fit {VocabularyFileName} ({e.Message}).", e);
        }
        return new ClipTokenizer(bpe, specialTokens[ClipPreTokenizer.StartOfText], specialTokens[ClipPreTokenizer.EndOfText]);
    }

    /// <summary>The 77 ids of <paramref name="prompt"/>.</summary>
    public long[] Encode(string prompt) => Tokenize(prompt).Ids;

    /// <summary>The 77 ids of <paramref name="prompt"/> and how many tokens it needs untruncated.</summary>
    public TokenizedPrompt Tokenize(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var tokens = _bpe.EncodeToIds(prompt);

        var ids = new long[MaxLength];
        Array.Fill(ids, EndOfTextId);
        ids[0] = StartOfTextId;
        var kept = Math.Min(tokens.Count, MaxLength - 2);
        for (var i = 0; i < kept; i++) ids[i + 1] = tokens[i];
        return new TokenizedPrompt(ids, tokens.Count + 2);
    }

    /// <summary>The BPE tokens of <paramref name="prompt"/> as strings (byte-level characters), untruncated.</summary>
    public IReadOnlyList<string> TokenStrings(string prompt) =>
        _bpe.EncodeToTokens(prompt, out _).Select(token => token.Value).ToList();

    private static Dictionary<string, int> ReadVocabulary(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var vocabulary = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(stream);
            if (vocabulary is null || vocabulary.Count == 0)
            {
                throw TokenizerFileException.Unreadable(path, Name, "it holds no vocabulary.");
            }
            return vocabulary;
        }
        catch (System.Text.Json.JsonException e)
        {
            throw TokenizerFileException.Unreadable(path, Name, $"it is not a JSON object of token ids ({e.Message}).", e);
        }
    }

    private static List<string> ReadMerges(string path)
    {
        var merges = new List<string>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw TokenizerFileException.Unreadable(path, Name, $"line {lineNumber} is not a pair of tokens separated by one space.");
            }
            merges.Add(line);
        }
        if (merges.Count == 0) throw TokenizerFileException.Unreadable(path, Name, "it holds no merge rules.");
        return merges;
    }

    private static int RequireToken(Dictionary<string, int> vocabulary, string token, string path) =>
        vocabulary.TryGetValue(token, out var id)
            ? id
            : throw TokenizerFileException.Unreadable(path, Name, $"it has no '{token}' token, so it is not a CLIP vocabulary.");
}
