using System.Text.RegularExpressions;

namespace FluxStudio.Web.Services;

/// <summary>
/// Messages of the shared code (engine, App) speak to command-line users ("pass --path", "--device cpu"). The pages pass
/// every such message through <see cref="ForWeb"/>, which says the same in terms of the page's controls and the server's
/// settings; the command line keeps its own wording. (Memory advice is worded per surface where it is made:
/// <see cref="WebMemoryRemedyWording"/>.)
/// </summary>
public static partial class WebWording
{
    private static readonly (Regex Pattern, string Replacement)[] Rewrites =
    [
        // The model locator's advice.
        (new(@"run `fluxstudio download --model \w+` to download (it|the model)"),
            "allow downloads (the Models:AllowDownload setting) so the studio downloads $1"),
        (new(@"or pass --path to a folder with"), "or enter a folder with the Model path field (under Advanced) that holds"),
        (new(@"or name a folder with"), "or enter, in the Model path field (under Advanced), a folder with"),
        // Device and precision choices, which the web takes from the server's settings.
        (new(@"--device (\w+) needs"), "The device \"$1\" (the FluxStudio:Engine:Device setting) needs"),
        (new(@"use --device cpu or auto"), "set FluxStudio:Engine:Device to cpu or auto"),
        (new(@"use --dtype fp32 or bf16"), "set FluxStudio:Engine:Precision to fp32 or bf16"),
        (new(@" \(build with -p:TorchBackend=cuda\)"), " (see the README's libtorch backends)"),
        // The background remover's model.
        (new(@"pass its path with --model \(or set BackgroundRemoval:ModelPath\)"), "set its path as BackgroundRemoval:ModelPath in the settings"),
        (new(@"pass its path with --model"), "set its path as BackgroundRemoval:ModelPath in the settings"),
        (new(@"Pass the \.onnx file itself with --model\."), "Set BackgroundRemoval:ModelPath to the .onnx file itself."),
        (new(@"--download on the command line, "), ""),
        // The prompt enhancer's server address.
        (new(@"\(the enhancer endpoint setting, or --endpoint\)"), "(the Enhancer:Endpoint setting)"),
    ];

    /// <summary>The message in the web's terms; messages without command-line advice are returned as they are.</summary>
    public static string ForWeb(string message)
    {
        foreach (var (pattern, replacement) in Rewrites)
            message = pattern.Replace(message, replacement);
        return message;
    }

    /// <summary>Whether a message still names a command-line flag (<c>--path</c>, <c>-q 8</c>), for the tests.</summary>
    public static bool NamesAFlag(string message) => Flag().IsMatch(message);

    [GeneratedRegex(@"(?<![\w-])(--[a-z][a-z-]+|-q [48]|-p:\w+)")]
    private static partial Regex Flag();
}
