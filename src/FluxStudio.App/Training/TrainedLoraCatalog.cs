using FluxStudio.App.Loras;

namespace FluxStudio.App.Training;

/// <summary>
/// Puts a trained LoRA where the Generate tab finds it: a copy in the LoRA folder, under the run's name (made unique), and
/// an entry in <c>lora_info.json</c> with its description and activation keyword.
/// </summary>
public sealed class TrainedLoraCatalog(LoraCatalog catalog)
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>Adds the LoRA at <paramref name="loraPath"/>; returns its file name in the LoRA folder.</summary>
    public async Task<string> AddAsync(string loraPath, string runName, string description, string activationKeyword, CancellationToken ct)
    {
        await Gate.WaitAsync(ct);
        try
        {
            Directory.CreateDirectory(catalog.Folder);
            var name = FreeName(Sanitize(runName));
            File.Copy(loraPath, Path.Combine(catalog.Folder, name));
            await catalog.SaveEntryAsync(name, description, activationKeyword, ct);
            return name;
        }
        finally
        {
            Gate.Release();
        }
    }

    private string FreeName(string stem)
    {
        var name = stem + LoraCatalog.FileExtension;
        for (int n = 2; File.Exists(Path.Combine(catalog.Folder, name)); n++)
            name = $"{stem}-{n}{LoraCatalog.FileExtension}";
        return name;
    }

    private static string Sanitize(string runName)
    {
        var cleaned = new string([.. runName.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]).Trim('.', '_');
        return cleaned.Length == 0 ? "trained-lora" : cleaned;
    }
}
