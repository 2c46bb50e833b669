using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FluxStudio.Engine.Text;

/// <summary>
/// HTML entity decoding the way ftfy's <c>unescape_html</c> does it: only complete references that end in a
/// semicolon, named ones from the HTML5 list (plus upper-case spellings of the lower-case names, e.g.
/// <c>&amp;EACUTE;</c>), and numeric ones with the replacements of Python's <c>html.unescape</c>.
/// </summary>
internal static partial class HtmlEntities
{
    // html-entities.json is generated from the WHATWG named character references as Python's
    // html.entities.html5 holds them (see README.md next to it).
    private const string ResourceName = "FluxStudio.Engine.Text.html-entities.json";
    private static readonly Lazy<Dictionary<string, string>> Named = new(LoadNamed);

    // Windows-1252 for 0x80..0x9F, with its five unassigned bytes kept as the C1 character: what browsers,
    // html.unescape and ftfy's sloppy-windows-1252 all do.
    internal const string Windows1252HighControls =
        "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ";

    [GeneratedRegex("&#?[0-9A-Za-z]{1,24};")]
    private static partial Regex ReferencePattern();

    public static string Unescape(string text) =>
        text.Contains('&') ? ReferencePattern().Replace(text, match => Decode(match.Value)) : text;

    private static string Decode(string reference)
    {
        if (Named.Value.TryGetValue(reference, out var named)) return named;
        if (!reference.StartsWith("&#", StringComparison.Ordinal)) return reference;

        var body = reference[2..^1];
        BigInteger number;
        if (body.All(char.IsAsciiDigit))
        {
            number = BigInteger.Parse(body, CultureInfo.InvariantCulture);
        }
        else if (body.Length > 1 && body[0] is 'x' or 'X' && body[1..].All(char.IsAsciiHexDigit))
        {
            number = BigInteger.Parse("0" + body[1..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }
        else
        {
            return reference;
        }
        return DecodeCodePoint(number);
    }

    private static string DecodeCodePoint(BigInteger number)
    {
        if (number > 0x10FFFF) return "\uFFFD";
        var codePoint = (int)number;
        switch (codePoint)
        {
            case 0: return "\uFFFD";
            case 0x0D: return "\r";
            case >= 0x80 and <= 0x9F: return Windows1252HighControls[codePoint - 0x80].ToString();
            case >= 0xD800 and <= 0xDFFF: return "\uFFFD";
        }
        var dropped = codePoint is >= 0x01 and <= 0x08 or 0x0B or >= 0x0E and <= 0x1F or 0x7F
            or >= 0xFDD0 and <= 0xFDEF
            || (codePoint & 0xFFFE) == 0xFFFE;
        return dropped ? "" : char.ConvertFromUtf32(codePoint);
    }

    private static Dictionary<string, string> LoadNamed()
    {
        using var stream = typeof(HtmlEntities).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException("The embedded HTML entity table is missing from the engine assembly.");
        return JsonSerializer.Deserialize<Dictionary<string, string>>(stream)
            ?? throw new InvalidOperationException("The embedded HTML entity table is empty.");
    }
}
