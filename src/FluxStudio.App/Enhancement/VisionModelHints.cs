namespace FluxStudio.App.Enhancement;

/// <summary>
/// Guesses whether a model sees images when the server does not say so: Ollama older than 0.6 has no
/// <c>capabilities</c> in <c>/api/show</c>, and OpenAI-compatible servers list bare names.
/// </summary>
public static class VisionModelHints
{
    // Families Ollama reports for the vision tower of its multimodal models.
    private static readonly HashSet<string> VisionFamilies = new(StringComparer.OrdinalIgnoreCase)
    {
        "clip", "mllama", "qwen2vl", "qwen25vl", "qwen3vl", "llava", "moondream", "minicpmv",
    };

    private static readonly string[] VisionNameParts =
    [
        "vision", "llava", "-vl", "vl-", "vl:", "qwen2.5vl", "qwen3vl", "moondream", "minicpm-v", "pixtral", "bakllava",
    ];

    public static bool FromFamilies(IEnumerable<string>? families) =>
        families?.Any(VisionFamilies.Contains) ?? false;

    public static bool FromName(string name) =>
        VisionNameParts.Any(part => name.Contains(part, StringComparison.OrdinalIgnoreCase));
}
