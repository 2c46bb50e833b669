using System.Text;
using System.Text.RegularExpressions;

namespace FluxStudio.Engine.Text;

/// <summary>
/// The text repair that the original CLIP tokenizer applies before tokenizing (ftfy 6.3 <c>fix_text</c> with its
/// default settings): HTML entities decoded, C1 control characters read as Windows-1252, Latin ligatures expanded,
/// full-width and half-width forms narrowed, curly quotes straightened, line breaks unified, unpaired surrogates
/// replaced, terminal escapes and invisible control characters removed, then NFC.
/// </summary>
/// <remarks>
/// ftfy's mojibake detection (re-decoding text such as "cafÃ©" that was decoded with the wrong code page) is not
/// reproduced: it needs ftfy's heuristics and tables, and prompts typed or pasted into the app are not mis-decoded.
/// </remarks>
internal static partial class PromptTextFixer
{
    private static readonly Dictionary<char, string> Ligatures = new()
    {
        ['Ĳ'] = "IJ", ['ĳ'] = "ij", ['ŉ'] = "ʼn",
        ['Ǳ'] = "DZ", ['ǲ'] = "Dz", ['ǳ'] = "dz", ['Ǆ'] = "DŽ", ['ǅ'] = "Dž", ['ǆ'] = "dž",
        ['Ǉ'] = "LJ", ['ǈ'] = "Lj", ['ǉ'] = "lj", ['Ǌ'] = "NJ", ['ǋ'] = "Nj", ['ǌ'] = "nj",
        ['ﬀ'] = "ff", ['ﬁ'] = "fi", ['ﬂ'] = "fl", ['ﬃ'] = "ffi", ['ﬄ'] = "ffl", ['ﬅ'] = "ſt", ['ﬆ'] = "st",
    };

    [GeneratedRegex(@"\x1b\[((?:\d|;)*)([a-zA-Z])")]
    private static partial Regex TerminalEscape();

    public static string Fix(string text)
    {
        // ftfy fixes line by line; once a line contains "<" the text is taken for HTML source and entities are
        // left alone from there on.
        var result = new StringBuilder(text.Length);
        var unescapeHtml = true;
        var start = 0;
        while (start < text.Length)
        {
            var newline = text.IndexOf('\n', start);
            var end = newline < 0 ? text.Length : newline + 1;
            var segment = text[start..end];
            if (segment.Contains('<')) unescapeHtml = false;
            result.Append(FixSegment(segment, unescapeHtml));
            start = end;
        }
        return result.ToString();
    }

    private static string FixSegment(string text, bool unescapeHtml)
    {
        // Repeated until nothing changes, as ftfy does: "&amp;lt;" takes two rounds.
        while (true)
        {
            var before = text;
            if (unescapeHtml) text = HtmlEntities.Unescape(text);
            text = FixC1Controls(text);
            text = ExpandLigatures(text);
            text = NarrowCharacterWidth(text);
            text = UncurlQuotes(text);
            text = UnifyLineBreaks(text);
            text = ReplaceUnpairedSurrogates(text);
            text = TerminalEscape().Replace(text, "");
            text = RemoveControlCharacters(text);
            text = ComposeNfc(text);
            if (text == before) return text;
        }
    }

    // .NET refuses to normalise text containing the noncharacter U+FFFE, which Python passes through; it
    // composes with nothing, so the parts around it are normalised on their own with the same result.
    private static string ComposeNfc(string text) =>
        text.Contains('\uFFFE')
            ? string.Join('\uFFFE', text.Split('\uFFFE').Select(part => part.Normalize(NormalizationForm.FormC)))
            : text.Normalize(NormalizationForm.FormC);

    private static string FixC1Controls(string text) =>
        Map(text, c => c is >= '\u0080' and <= '\u009F' ? HtmlEntities.Windows1252HighControls[c - 0x80].ToString() : null);

    private static string ExpandLigatures(string text) =>
        Map(text, c => Ligatures.GetValueOrDefault(c));

    // U+3000 and the Halfwidth and Fullwidth Forms block, each replaced by its compatibility form.
    private static string NarrowCharacterWidth(string text) =>
        Map(text, c => c switch
        {
            '\u3000' => " ",
            >= '\uFF01' and <= '\uFFEF' when c.ToString().Normalize(NormalizationForm.FormKC) is var narrow
                && narrow != c.ToString() => narrow,
            _ => null,
        });

    private static string UncurlQuotes(string text) =>
        Map(text, c => c switch
        {
            '\u02BC' or >= '\u2018' and <= '\u201B' => "'",
            >= '\u201C' and <= '\u201F' => "\"",
            _ => null,
        });

    private static string UnifyLineBreaks(string text) =>
        text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    private static string ReplaceUnpairedSurrogates(string text)
    {
        if (!text.Any(char.IsSurrogate)) return text;
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                result.Append(text[i]).Append(text[i + 1]);
                i++;
            }
            else
            {
                result.Append(char.IsSurrogate(text[i]) ? '\uFFFD' : text[i]);
            }
        }
        return result.ToString();
    }

    // ASCII controls other than tab, line feed, form feed and carriage return; deprecated Arabic format
    // characters; the byte order mark; interlinear annotations and the object replacement character.
    private static string RemoveControlCharacters(string text) =>
        Map(text, c => c is <= '\u0008' or '\u000B' or >= '\u000E' and <= '\u001F' or '\u007F'
            or >= '\u206A' and <= '\u206F' or '\uFEFF' or >= '\uFFF9' and <= '\uFFFC' ? "" : null);

    private static string Map(string text, Func<char, string?> replacement)
    {
        StringBuilder? result = null;
        for (var i = 0; i < text.Length; i++)
        {
            var replaced = replacement(text[i]);
            if (replaced is null)
            {
                result?.Append(text[i]);
                continue;
            }
            result ??= new StringBuilder(text.Length).Append(text, 0, i);
            result.Append(replaced);
        }
        return result?.ToString() ?? text;
    }
}
