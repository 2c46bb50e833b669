namespace FluxStudio.Engine.Models;

/// <summary>
/// The Hugging Face cache layout that Python's huggingface_hub writes and reads:
/// <c>{cache}/models--{org}--{name}/blobs/{etag}</c> holds each file once, <c>snapshots/{commit}/{path}</c> links to the
/// blob, and <c>refs/{revision}</c> holds the commit a branch or tag pointed to when it was downloaded.
/// </summary>
public sealed class HubCache(string cacheDirectory)
{
    public string CacheDirectory { get; } = cacheDirectory;

    public string RepoFolder(FluxRepository repo) => Path.Combine(CacheDirectory, repo.CacheFolderName);

    public string BlobPath(FluxRepository repo, string etag) => Path.Combine(RepoFolder(repo), "blobs", etag);

    public string SnapshotFolder(FluxRepository repo, string commit) => Path.Combine(RepoFolder(repo), "snapshots", commit);

    public string RefPath(FluxRepository repo, string revision) => RefPathIn(RepoFolder(repo), revision);

    private static string RefPathIn(string repoFolder, string revision) => Path.Combine([repoFolder, "refs", .. revision.Split('/')]);

    /// <summary>The commit <c>refs/{revision}</c> names, or null when there is no such ref.</summary>
    public string? ReadRef(FluxRepository repo, string revision) => ReadRefIn(RepoFolder(repo), revision);

    private static string? ReadRefIn(string repoFolder, string revision)
    {
        var path = RefPathIn(repoFolder, revision);
        if (!File.Exists(path)) return null;
        var commit = File.ReadAllText(path).Trim();
        return commit.Length > 0 ? commit : null;
    }

    public void WriteRef(FluxRepository repo, string revision, string commit)
    {
        var path = RefPath(repo, revision);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // huggingface_hub writes the bare commit hash without a newline.
        File.WriteAllText(path, commit);
    }

    /// <summary>
    /// The snapshots to try, best first: the one <c>refs/{revision}</c> names, then the others, newest first. Each comes
    /// with a description for messages.
    /// </summary>
    public IReadOnlyList<(string Folder, string Description)> SnapshotCandidates(FluxRepository repo, string revision) =>
        SnapshotCandidatesIn(RepoFolder(repo), revision);

    /// <summary>The snapshots of a repository folder (<c>models--org--name</c>), best first, as <see cref="SnapshotCandidates"/>.</summary>
    public static IReadOnlyList<(string Folder, string Description)> SnapshotCandidatesIn(string repoFolder, string revision)
    {
        var snapshots = Path.Combine(repoFolder, "snapshots");
        var result = new List<(string, string)>();
        var refCommit = ReadRefIn(repoFolder, revision);
        if (refCommit is not null)
            result.Add((Path.Combine(snapshots, refCommit), $"snapshot {refCommit} (refs/{revision})"));
        if (Directory.Exists(snapshots))
        {
            foreach (var dir in new DirectoryInfo(snapshots).EnumerateDirectories().OrderByDescending(d => d.LastWriteTimeUtc))
            {
                if (dir.Name != refCommit) result.Add((dir.FullName, $"snapshot {dir.Name}"));
            }
        }
        return result;
    }

    /// <summary>
    /// Places <paramref name="relativePath"/> of a snapshot: a relative symbolic link to the blob as huggingface_hub makes
    /// it, or, where links cannot be made (Windows without developer mode), the blob itself moved into the snapshot as
    /// huggingface_hub does there, so multi-gigabyte files are never stored twice.
    /// </summary>
    public void LinkIntoSnapshot(string blobPath, string snapshotFolder, string relativePath)
    {
        var pointer = Path.Combine(snapshotFolder, relativePath.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        if (File.Exists(pointer) || new FileInfo(pointer).LinkTarget is not null) File.Delete(pointer);
        try
        {
            File.CreateSymbolicLink(pointer, Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blobPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Move(blobPath, pointer);
        }
    }

    /// <summary>
    /// Resolves a file name from the Hub to a path under <paramref name="folder"/>, refusing names that would leave it.
    /// </summary>
    public static string SafeCombine(string folder, string relativePath)
    {
        var parts = relativePath.Split('/');
        if (relativePath.Length == 0 || Path.IsPathRooted(relativePath) || relativePath.Contains('\\')
            || parts.Any(p => p is "" or "." or ".."))
            throw new HubDownloadException($"The Hub listed a file named '{relativePath}', which is not a safe relative path; nothing was written for it.");
        return Path.Combine([folder, .. parts]);
    }
}
