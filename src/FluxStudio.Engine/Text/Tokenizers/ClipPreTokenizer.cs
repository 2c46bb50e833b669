using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace FluxStudio.Engine.Text;

/// <summary>
/// Splits cleaned text into CLIP's words with the semantics of its pattern
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (alternatives tried in order at each position, whitespace skipped), compiled case-insensitive as in the
/// reference. On lower-cased text that flag still matters twice: "ſ" (long s) matches the "s" of the literals,
/// and U+0345 (combining ypogegrammeni, which folds to a letter) matches no alternative, so it separates words
/// and is dropped like whitespace.
/// </summary>
/// <remarks>
/// Written as a scanner over code points rather than a .NET regex because .NET character classes see UTF-16
/// units: a letter or digit outside the Basic Multilingual Plane would land in the punctuation run.
/// </remarks>
public sealed class ClipPreTokenizer : PreTokenizer
{
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    private const char LongS = '\u017F';
    private const int CombiningYpogegrammeni = 0x345;

    public static ClipPreTokenizer Instance { get; } = new();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private static List<(int Offset, int Length)> Split(string text)
    {
        var words = new List<(int Offset, int Length)>();
        var position = 0;
        while (position < text.Length)
        {
            var length = MatchAt(text, position);
            if (length == 0)
            {
                position += RuneAt(text, position).Utf16SequenceLength;
                continue;
            }
            words.Add((position, length));
            position += length;
        }
        return words;
    }

    /// <returns>The length of the word starting at <paramref name="position"/>, 0 at whitespace.</returns>
    private static int MatchAt(string text, int position)
    {
        foreach (var literal in (ReadOnlySpan<string>)[StartOfText, EndOfText, .. Contractions])
        {
            if (StartsWithLiteral(text, position, literal)) return literal.Length;
        }

        var first = RuneAt(text, position);
        var kind = KindOf(first);
        if (kind == CharacterKind.Space) return 0;
        if (kind == CharacterKind.Number) return first.Utf16SequenceLength;

        var end = position + first.Utf16SequenceLength;
        while (end < text.Length && RuneAt(text, end) is var next && KindOf(next) == kind)
        {
            end += next.Utf16SequenceLength;
        }
        return end - position;
    }

    private static bool StartsWithLiteral(string text, int position, string literal)
    {
        if (position + literal.Length > text.Length) return false;
        for (var i = 0; i < literal.Length; i++)
        {
            var c = text[position + i];
            if (c != literal[i] && !(literal[i] == 's' && c == LongS)) return false;
        }
        return true;
    }

    // An unpaired surrogate reads as U+FFFD (one unit long) instead of throwing.
    private static Rune RuneAt(string text, int index)
    {
        Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out _);
        return rune;
    }

    private enum CharacterKind { Letter, Number, Space, Other }

    private static CharacterKind KindOf(Rune rune)
    {
        if (PythonText.IsSpace(rune) || rune.Value == CombiningYpogegrammeni) return CharacterKind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharacterKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                => CharacterKind.Number,
            _ => CharacterKind.Other,
        };
    }
}
