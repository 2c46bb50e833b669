using PdfSharp.Fonts;

namespace FluxStudio.App.Training;

/// <summary>
/// The fonts PDFsharp draws text with: DejaVu Sans (Debian's <c>fonts-dejavu-core</c>, present on most Linux systems),
/// else Arial or Liberation Sans, found in the system's font folders. PDFsharp has no font lookup of its own outside
/// Windows; with none of these found, reports carry no text (<see cref="Available"/> is false).
/// </summary>
internal sealed class PdfFonts : IFontResolver
{
    public const string Family = "FluxStudio Sans";

    private static readonly Lock Gate = new();
    private static PdfFonts? _installed;

    private static readonly string[][] Candidates =
    [
        ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"],
        ["LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"],
        ["arial.ttf", "arialbd.ttf"],
        ["Arial.ttf", "Arial Bold.ttf"],
    ];

    private readonly string? _regular;
    private readonly string? _bold;

    private PdfFonts()
    {
        var files = FontFolders().Where(Directory.Exists)
            .SelectMany(folder => SafeEnumerate(folder))
            .GroupBy(Path.GetFileName, StringComparer.Ordinal)
            .ToDictionary(group => group.Key!, group => group.First(), StringComparer.Ordinal);
        foreach (var pair in Candidates)
        {
            if (files.TryGetValue(pair[0], out var regular))
            {
                _regular = regular;
                _bold = files.GetValueOrDefault(pair[1], regular);
                break;
            }
        }
    }

    /// <summary>Whether a font was found, so that text can be drawn.</summary>
    public static bool Available => Install()._regular is not null;

    /// <summary>Makes this the resolver PDFsharp uses (once per process; PDFsharp allows no other change).</summary>
    public static PdfFonts Install()
    {
        lock (Gate)
        {
            if (_installed is null)
            {
                _installed = new PdfFonts();
                GlobalFontSettings.FontResolver = _installed;
            }
            return _installed;
        }
    }

    public FontResolverInfo? ResolveTypeface(string familyName, bool isBold, bool isItalic) =>
        _regular is null ? null : new FontResolverInfo(isBold ? "bold" : "regular");

    public byte[]? GetFont(string faceName) =>
        (faceName == "bold" ? _bold : _regular) is { } file ? File.ReadAllBytes(file) : null;

    private static IEnumerable<string> FontFolders()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        yield return "/usr/share/fonts";
        yield return "/usr/local/share/fonts";
        yield return Path.Combine(home, ".local", "share", "fonts");
        yield return Path.Combine(home, ".fonts");
        yield return "/Library/Fonts";
        yield return "/System/Library/Fonts/Supplemental";
        yield return Environment.GetFolderPath(Environment.SpecialFolder.Fonts);
    }

    private static IEnumerable<string> SafeEnumerate(string folder)
    {
        try
        {
            return Directory.EnumerateFiles(folder, "*.ttf", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
