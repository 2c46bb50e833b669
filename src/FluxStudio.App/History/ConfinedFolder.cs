namespace FluxStudio.App.History;

/// <summary>
/// A folder that paths must stay inside: history's output folder, or the original app's folder during an import. A
/// path counts as inside only when it resolves, with every symbolic link on the way followed, to a place under the
/// folder's own resolved path. History checks when a file is stored, served or deleted, so a row written by an older
/// version or by hand cannot lead anywhere else.
/// </summary>
internal sealed class ConfinedFolder
{
    // Linux allows 40 links in one lookup; more means a loop.
    private const int MaxLinks = 40;

    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    public ConfinedFolder(string root) => Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));

    public string Root { get; }

    private string? _realRoot;

    /// <summary>
    /// The path (relative ones taken from the folder) with every symbolic link resolved, if it lies inside the
    /// folder; otherwise null.
    /// </summary>
    public string? Resolve(string path)
    {
        var real = RealPath(Path.GetFullPath(path, Root));
        if (real is null)
            return null;
        // The folder's own resolved path is kept, and looked up again before a path is refused, in case it has moved.
        if (IsUnder(real, _realRoot ??= RealPath(Root)))
            return real;
        _realRoot = RealPath(Root);
        return IsUnder(real, _realRoot) ? real : null;
    }

    private static bool IsUnder(string path, string? folder) =>
        folder is not null && path.StartsWith(Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar, PathComparison);

    public bool Contains(string path) => Resolve(path) is not null;

    /// <summary>
    /// Deletes the file when it lies inside the folder (a link inside is removed, never its target); a missing file
    /// counts as deleted. False, touching nothing, when the path leads outside the folder.
    /// </summary>
    public bool TryDelete(string path)
    {
        if (!Contains(path))
            return false;
        File.Delete(Path.GetFullPath(path, Root));
        return true;
    }

    /// <summary>Opens the file for reading when it lies inside the folder; null when it does not or is not there.</summary>
    public FileStream? OpenRead(string path)
    {
        var real = Resolve(path);
        if (real is null || !File.Exists(real))
            return null;
        // The resolved path holds no links, so what is opened is what was checked.
        return new FileStream(real, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920, useAsync: true);
    }

    /// <summary>
    /// The absolute path with each symbolic link resolved (<c>realpath</c>), for existing components; components that
    /// do not exist yet are kept as written. Null for a loop of links.
    /// </summary>
    internal static string? RealPath(string path)
    {
        var pending = new Stack<string>();
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        PushComponents(pending, full[current.Length..]);
        var links = 0;
        while (pending.TryPop(out var name))
        {
            var next = Path.Combine(current, name);
            var target = LinkTarget(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
                return null;
            // A relative target is relative to the link's folder; its own components may be links again.
            var resolved = Path.GetFullPath(target, current);
            current = Path.GetPathRoot(resolved)!;
            PushComponents(pending, resolved[current.Length..]);
        }
        return current;
    }

    private static void PushComponents(Stack<string> pending, string relative)
    {
        var names = relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
        for (var i = names.Length - 1; i >= 0; i--)
            pending.Push(names[i]);
    }

    private static string? LinkTarget(string path)
    {
        // Only Windows tells file links from folder links; elsewhere one readlink answers for both.
        FileSystemInfo info = OperatingSystem.IsWindows() && Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        return info.LinkTarget;
    }
}
