using Microsoft.ML.Tokenizers;

namespace FluxStudio.Engine.Text;

/// <summary>
/// CLIP's prompt clean-up: <c>whitespace_clean(fix_text(text)).lower()</c> as in openai/CLIP and in transformers'
/// CLIPTokenizer when ftfy is installed. Whitespace and lower case follow Python's definitions exactly.
/// </summary>
public sealed class ClipTextNormalizer : Normalizer
{
    public static ClipTextNormalizer Instance { get; } = new();

    public override string Normalize(string original) =>
        PythonText.Lower(PythonText.CollapseWhitespace(PromptTextFixer.Fix(original)));

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
