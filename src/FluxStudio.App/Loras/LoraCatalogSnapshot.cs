namespace FluxStudio.App.Loras;

/// <summary>
/// The catalog as last read. When the file on disk is broken, <see cref="Error"/> says why and
/// <see cref="Entries"/> still holds the last good list.
/// </summary>
public sealed record LoraCatalogSnapshot(string Folder, IReadOnlyList<LoraEntry> Entries, string? Error, IReadOnlyList<string> Warnings)
{
    public static LoraCatalogSnapshot Empty(string folder, string? error = null) => new(folder, [], error, []);

    /// <summary>Whether a LoRA file of this name is in the LoRA folder, listed in the catalog or not.</summary>
    public bool FileExists(string fileName) =>
        LoraCatalog.IsPlainFileName(fileName) && File.Exists(Path.Combine(Folder, fileName));

    /// <summary>
    /// Prepends the activation keywords of the selected LoRAs, in catalog order, as <c>"{keyword}, {prompt}"</c>.
    /// Empty keywords add nothing, and a keyword the prompt already holds as one of its comma-separated parts
    /// is not added again, so reusing a stored prompt does not double its keywords.
    /// </summary>
    public string ComposePrompt(string prompt, IEnumerable<string> selectedFileNames)
    {
        var selected = selectedFileNames.ToHashSet(StringComparer.Ordinal);
        var present = prompt.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .ToHashSet(StringComparer.Ordinal);
        var keywords = Entries
            .Where(e => selected.Contains(e.FileName))
            .Select(e => e.ActivationKeyword.Trim())
            .Where(k => k.Length > 0 && present.Add(k))
            .ToList();
        if (keywords.Count == 0)
            return prompt;
        var trimmed = prompt.Trim();
        return trimmed.Length == 0 ? string.Join(", ", keywords) : $"{string.Join(", ", keywords)}, {trimmed}";
    }
}
