namespace FluxStudio.App.Background;

/// <summary>
/// Finds the matting model's ONNX file: a configured file or folder, else the Hugging Face cache
/// (<c>$HF_HUB_CACHE</c>, <c>$HF_HOME/hub</c> or <c>~/.cache/huggingface/hub</c>).
/// </summary>
public static class MattingModelLocator
{
    /// <summary>Where an ONNX export sits inside a model folder, most usual first (RMBG-2.0 ships <c>onnx/model.onnx</c>).</summary>
    private static readonly string[] KnownRelativePaths = ["onnx/model.onnx", "model.onnx"];

    /// <exception cref="BackgroundRemovalException">No model file was found; the message says where to put one.</exception>
    public static string Locate(string? modelPath, string repository, Func<string, string?>? environment = null, string? hubCache = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (!string.IsNullOrWhiteSpace(modelPath))
            return LocateInPath(Path.GetFullPath(modelPath), repository);

        hubCache = string.IsNullOrWhiteSpace(hubCache) ? HuggingFaceHubCache(environment) : hubCache;
        var snapshot = LatestSnapshot(hubCache, repository);
        var found = snapshot is null ? null : FindInFolder(snapshot);
        return found ?? throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
            $"No background-removal model was found. Download onnx/model.onnx from https://huggingface.co/{repository} " +
            $"(its licence must be accepted there) and pass its path with --model (or set BackgroundRemoval:ModelPath), " +
            $"or put it in the Hugging Face cache at {Path.Combine(RepositoryFolder(hubCache, repository), "snapshots", "<revision>", "onnx", "model.onnx")}. " +
            "Or let it be downloaded: --download on the command line, BackgroundRemoval:AllowDownload=true in the settings " +
            "(the repository is gated: accept its licence and set HF_TOKEN).");
    }

    public static string HuggingFaceHubCache(Func<string, string?> environment)
    {
        var hubCache = environment("HF_HUB_CACHE");
        if (!string.IsNullOrWhiteSpace(hubCache)) return hubCache;
        var home = environment("HF_HOME");
        if (!string.IsNullOrWhiteSpace(home)) return Path.Combine(home, "hub");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub");
    }

    private static string LocateInPath(string path, string repository)
    {
        if (File.Exists(path)) return path;
        if (Directory.Exists(path))
        {
            // A hub cache folder (models--org--name) is accepted too, as people often copy that.
            var snapshot = LatestSnapshot(path, repository) ?? LatestSnapshotOfRepositoryFolder(path);
            return FindInFolder(path) ?? (snapshot is null ? null : FindInFolder(snapshot))
                ?? throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
                    $"The folder {path} holds no ONNX model (looked for {string.Join(", ", KnownRelativePaths)} and a single *.onnx file). " +
                    "Pass the .onnx file itself with --model.");
        }
        throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
            $"The model path {path} does not exist. Pass an existing .onnx file or a folder that holds onnx/model.onnx.");
    }

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

    private static string RepositoryFolder(string hubCache, string repository) =>
        Path.Combine(hubCache, "models--" + repository.Replace("/", "--", StringComparison.Ordinal));

    private static string? LatestSnapshot(string hubCache, string repository) =>
        LatestSnapshotOfRepositoryFolder(RepositoryFolder(hubCache, repository));

    /// <summary>The snapshot <c>refs/main</c> names, else the most recently written one.</summary>
    private static string? LatestSnapshotOfRepositoryFolder(string repositoryFolder)
    {
        var snapshots = Path.Combine(repositoryFolder, "snapshots");
        if (!Directory.Exists(snapshots)) return null;
        var mainRef = Path.Combine(repositoryFolder, "refs", "main");
        if (File.Exists(mainRef))
        {
            var revision = File.ReadAllText(mainRef).Trim();
            var pinned = Path.Combine(snapshots, revision);
            if (revision.Length > 0 && Directory.Exists(pinned)) return pinned;
        }
        return new DirectoryInfo(snapshots).GetDirectories()
            .OrderByDescending(directory => directory.LastWriteTimeUtc)
            .FirstOrDefault()?.FullName;
    }
}
