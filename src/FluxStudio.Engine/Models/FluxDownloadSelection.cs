namespace FluxStudio.Engine.Models;

/// <summary>
/// Which files of a FLUX.1 repository are downloaded: the diffusers parts only, never the single-file duplicates at the
/// repository root (<c>flux1-schnell.safetensors</c>, <c>ae.safetensors</c>: about 34 GB together) and never pickled
/// weights, which are not loaded anyway.
/// </summary>
public sealed class FluxDownloadSelection
{
    private static readonly string[] AllowedExtensions = [".safetensors", ".json", ".txt", ".model"];

    private readonly HashSet<string> _folders;

    private FluxDownloadSelection(IEnumerable<string> folders) => _folders = new HashSet<string>(folders, StringComparer.Ordinal);

    /// <summary>Every part of the pipeline.</summary>
    public static FluxDownloadSelection Full { get; } = new(
    [
        DiffusersFolder.Scheduler, DiffusersFolder.TextEncoder, DiffusersFolder.TextEncoder2, DiffusersFolder.Tokenizer,
        DiffusersFolder.Tokenizer2, DiffusersFolder.Transformer, DiffusersFolder.Vae,
    ]);

    /// <summary>Everything but the transformer, for a single-file transformer the user already has.</summary>
    public static FluxDownloadSelection WithoutTransformer { get; } = new(
    [
        DiffusersFolder.Scheduler, DiffusersFolder.TextEncoder, DiffusersFolder.TextEncoder2, DiffusersFolder.Tokenizer,
        DiffusersFolder.Tokenizer2, DiffusersFolder.Vae,
    ]);

    /// <summary>Whether a repository file (a <c>/</c>-separated path as the Hub lists it) is downloaded.</summary>
    public bool Includes(string repoPath)
    {
        if (repoPath == DiffusersFolder.ModelIndex) return true;
        var slash = repoPath.IndexOf('/');
        if (slash <= 0 || !_folders.Contains(repoPath[..slash])) return false;
        var fileName = repoPath[(repoPath.LastIndexOf('/') + 1)..];
        if (fileName.StartsWith('.')) return false;
        return AllowedExtensions.Contains(Path.GetExtension(fileName), StringComparer.OrdinalIgnoreCase);
    }
}
