using System.Globalization;
using System.Text;

namespace FluxStudio.Engine.Text;

/// <summary>
/// The two string primitives of Python 3 that the reference CLIP tokenizer relies on and .NET does differently:
/// <c>str.isspace</c> (which also counts U+001C to U+001F) and <c>str.lower</c> (full case mapping: U+0130 becomes
/// two characters, and a capital sigma at the end of a word becomes the final form).
/// </summary>
internal static class PythonText
{
    public static bool IsSpace(Rune rune) => Rune.IsWhiteSpace(rune) || rune.Value is >= 0x1C and <= 0x1F;

    /// <summary><c>re.sub(r"\s+", " ", text).strip()</c>.</summary>
    public static string CollapseWhitespace(string text)
    {
        var result = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsSpace(rune))
            {
                pendingSpace = result.Length > 0;
                continue;
            }
            if (pendingSpace) result.Append(' ');
            pendingSpace = false;
            result.Append(rune);
        }
        return result.ToString();
    }

    public static string Lower(string text)
    {
        var runes = text.EnumerateRunes().ToArray();
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < runes.Length; i++)
        {
            switch (runes[i].Value)
            {
                case 0x130: // LATIN CAPITAL LETTER I WITH DOT ABOVE: the one unconditional multi-character lower case
                    result.Append("i\u0307");
                    break;
                case 0x3A3:
                    result.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
                    break;
                default:
                    result.Append(Rune.ToLowerInvariant(runes[i]));
                    break;
            }
        }
        return result.ToString();
    }

    // Unicode's Final_Sigma condition, as CPython applies it: a cased letter before (skipping case-ignorable
    // characters) and no cased letter after.
    private static bool IsFinalSigma(Rune[] runes, int index)
    {
        var before = index - 1;
        while (before >= 0 && IsCaseIgnorable(runes[before])) before--;
        if (before < 0 || !IsCased(runes[before])) return false;

        var after = index + 1;
        while (after < runes.Length && IsCaseIgnorable(runes[after])) after++;
        return after == runes.Length || !IsCased(runes[after]);
    }

    private static bool IsCased(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter
        || Rune.ToLowerInvariant(rune) != rune
        || Rune.ToUpperInvariant(rune) != rune
        || rune.Value is 0xAA or 0xBA; // ª and º: Other_Lowercase letters without a case mapping

    private static bool IsCaseIgnorable(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || rune.Value is '\'' or '.' or ':' or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024
            or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
