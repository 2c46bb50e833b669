namespace FluxStudio.Engine.Models;

/// <summary>
/// Which files of a repository are downloaded. For FLUX.1: the diffusers parts only, never the single-file duplicates
/// at the repository root (<c>flux1-schnell.safetensors</c>, <c>ae.safetensors</c>: about 34 GB together) and never
/// pickled weights, which are not loaded anyway. For a ControlNet: its top-level model. For a model that is one file
/// (an ONNX export): exactly that file.
/// </summary>
public sealed class FluxDownloadSelection
{
    private static readonly string[] AllowedExtensions = [".safetensors", ".json", ".txt", ".model"];

    private readonly HashSet<string> _folders;
    private readonly Func<string, bool>? _includesFile;

    private FluxDownloadSelection(IEnumerable<string> folders, string description, Func<string, bool>? includesFile = null)
    {
        _folders = new HashSet<string>(folders, StringComparer.Ordinal);
        Description = description;
        _includesFile = includesFile;
    }

    /// <summary>What is downloaded, in words, for messages.</summary>
    public string Description { get; }

    /// <summary>Every part of the pipeline.</summary>
    public static FluxDownloadSelection Full { get; } = new(
    [
        DiffusersFolder.Scheduler, DiffusersFolder.TextEncoder, DiffusersFolder.TextEncoder2, DiffusersFolder.Tokenizer,
        DiffusersFolder.Tokenizer2, DiffusersFolder.Transformer, DiffusersFolder.Vae,
    ], $"a FLUX.1 diffusers pipeline ({DiffusersFolder.DescribeLayout()})");

    /// <summary>Everything but the transformer, for a single-file transformer the user already has.</summary>
    public static FluxDownloadSelection WithoutTransformer { get; } = new(
    [
        DiffusersFolder.Scheduler, DiffusersFolder.TextEncoder, DiffusersFolder.TextEncoder2, DiffusersFolder.Tokenizer,
        DiffusersFolder.Tokenizer2, DiffusersFolder.Vae,
    ], $"a FLUX.1 diffusers pipeline ({DiffusersFolder.DescribeLayout()})");

    /// <summary>
    /// A single model in diffusers' layout at the repository's top level, as ControlNets are published: its config.json
    /// and its weights (<c>diffusion_pytorch_model.safetensors</c>, or its shards and their index).
    /// </summary>
    public static FluxDownloadSelection SingleModel { get; } = new([],
        "a model's config.json and diffusion_pytorch_model.safetensors at the top level",
        name => !name.Contains('/')
            && (name == "config.json"
                || (name.StartsWith("diffusion_pytorch_model", StringComparison.Ordinal)
                    && (name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".safetensors.index.json", StringComparison.Ordinal)))));

    /// <summary>Exactly these files, as the Hub lists them (<c>onnx/model.onnx</c>): a model that is one file.</summary>
    public static FluxDownloadSelection Only(params string[] repoPaths) =>
        new([], string.Join(", ", repoPaths), repoPaths.Contains);

    /// <summary>Whether a repository file (a <c>/</c>-separated path as the Hub lists it) is downloaded.</summary>
    public bool Includes(string repoPath)
    {
        if (_includesFile is not null) return _includesFile(repoPath);
        if (repoPath == DiffusersFolder.ModelIndex) return true;
        var slash = repoPath.IndexOf('/');
        if (slash <= 0 || !_folders.Contains(repoPath[..slash])) return false;
        var fileName = repoPath[(repoPath.LastIndexOf('/') + 1)..];
        if (fileName.StartsWith('.')) return false;
        return AllowedExtensions.Contains(Path.GetExtension(fileName), StringComparer.OrdinalIgnoreCase);
    }
}
