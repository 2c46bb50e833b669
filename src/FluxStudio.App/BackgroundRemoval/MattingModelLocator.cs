using FluxStudio.Engine.Models;

namespace FluxStudio.App.BackgroundRemoval;

/// <summary>
/// Finds the matting model's ONNX file: a configured file or folder, else the repository's snapshot in the studio's
/// one Hugging Face cache (<see cref="HubSettings.CacheDirectory"/>: <c>HF_HUB_CACHE</c>, <c>HF_HOME</c>,
/// <c>XDG_CACHE_HOME</c> or <c>~/.cache/huggingface/hub</c>, as huggingface_hub decides).
/// </summary>
public static class MattingModelLocator
{
    /// <summary>Where an ONNX export sits inside a model folder, most usual first (RMBG-2.0 ships <c>onnx/model.onnx</c>).</summary>
    private static readonly string[] KnownRelativePaths = ["onnx/model.onnx", "model.onnx"];

    /// <exception cref="BackgroundRemovalException">No model file was found; the message says where to put one.</exception>
    public static string Locate(string? modelPath, string repository, string revision, HubSettings hub)
    {
        if (!string.IsNullOrWhiteSpace(modelPath))
            return LocateInPath(Path.GetFullPath(modelPath), repository, revision);

        var repoFolder = new HubCache(hub.CacheDirectory).RepoFolder(FluxRepository.FromAlias(repository));
        return FindInRepositoryFolder(repoFolder, revision) ?? throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
            $"No background-removal model was found. Download onnx/model.onnx from {new Uri(hub.Endpoint, repository)} " +
            $"(its licence must be accepted there) and pass its path with --model (or set BackgroundRemoval:ModelPath), " +
            $"or put it in the Hugging Face cache (from {hub.CacheDirectorySource}) at " +
            $"{Path.Combine(repoFolder, "snapshots", "<revision>", "onnx", "model.onnx")}. " +
            "Or let it be downloaded: --download on the command line, BackgroundRemoval:AllowDownload=true in the settings " +
            "(the repository is gated: accept its licence and set HF_TOKEN).");
    }

    private static string LocateInPath(string path, string repository, string revision)
    {
        if (File.Exists(path)) return path;
        if (Directory.Exists(path))
        {
            // A hub cache folder, or a repository folder in one (models--org--name), is accepted too, as people often copy that.
            var inCache = Path.Combine(path, "models--" + repository.Replace("/", "--", StringComparison.Ordinal));
            return FindInFolder(path) ?? FindInRepositoryFolder(inCache, revision) ?? FindInRepositoryFolder(path, revision)
                ?? throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
                    $"The folder {path} holds no ONNX model (looked for {string.Join(", ", KnownRelativePaths)} and a single *.onnx file). " +
                    "Pass the .onnx file itself with --model.");
        }
        throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
            $"The model path {path} does not exist. Pass an existing .onnx file or a folder that holds onnx/model.onnx.");
    }

    /// <summary>The model in the best snapshot that has one: the one <c>refs/{revision}</c> names, else the newest.</summary>
    private static string? FindInRepositoryFolder(string repoFolder, string revision) =>
        HubCache.SnapshotCandidatesIn(repoFolder, revision)
            .Where(candidate => Directory.Exists(candidate.Folder))
            .Select(candidate => FindInFolder(candidate.Folder))
            .FirstOrDefault(found => found is not null);

    private static string? FindInFolder(string folder)
    {
        foreach (var relative in KnownRelativePaths)
        {
            var candidate = Path.Combine(folder, relative);
            if (File.Exists(candidate)) return candidate;
        }
        foreach (var subfolder in new[] { folder, Path.Combine(folder, "onnx") })
        {
            if (!Directory.Exists(subfolder)) continue;
            var onnxFiles = Directory.GetFiles(subfolder, "*.onnx");
            if (onnxFiles.Length == 1) return onnxFiles[0];
        }
        return null;
    }
}
