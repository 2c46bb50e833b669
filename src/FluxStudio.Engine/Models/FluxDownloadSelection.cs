namespace FluxStudio.Engine.Models;

/// <summary>
/// Which files of a repository are downloaded. For FLUX.1: the diffusers parts only, never the single-file duplicates
/// at the repository root (<c>flux1-schnell.safetensors</c>, <c>ae.safetensors</c>: about 34 GB together) and never
/// pickled weights, which are not loaded anyway. For a model that is one file (an ONNX export): exactly that file.
/// </summary>
public sealed class FluxDownloadSelection
{
    private static readonly string[] AllowedExtensions = [".safetensors", ".json", ".txt", ".model"];

    private readonly HashSet<string> _folders;
    private readonly HashSet<string>? _files;

    private FluxDownloadSelection(IEnumerable<string> folders, IEnumerable<string>? files = null)
    {
        _folders = new HashSet<string>(folders, StringComparer.Ordinal);
        _files = files is null ? null : new HashSet<string>(files, StringComparer.Ordinal);
    }

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

    /// <summary>Exactly these files, as the Hub lists them (<c>onnx/model.onnx</c>).</summary>
    public static FluxDownloadSelection Only(params string[] repoPaths) => new([], repoPaths);

    /// <summary>Whether a repository file (a <c>/</c>-separated path as the Hub lists it) is downloaded.</summary>
    public bool Includes(string repoPath)
    {
        if (_files is not null) return _files.Contains(repoPath);
        if (repoPath == DiffusersFolder.ModelIndex) return true;
        var slash = repoPath.IndexOf('/');
        if (slash <= 0 || !_folders.Contains(repoPath[..slash])) return false;
        var fileName = repoPath[(repoPath.LastIndexOf('/') + 1)..];
        if (fileName.StartsWith('.')) return false;
        return AllowedExtensions.Contains(Path.GetExtension(fileName), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>What a repository lacks when it has none of the selected files, for the error message.</summary>
    internal string DescribeWanted() => _files is null
        ? $"the files of a FLUX.1 diffusers pipeline ({DiffusersFolder.DescribeLayout()}); only models in the diffusers layout can be downloaded"
        : string.Join(", ", _files);
}
