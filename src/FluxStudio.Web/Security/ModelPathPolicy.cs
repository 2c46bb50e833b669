using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Security;

/// <summary>
/// Decides whether a model path sent by a client may be used. On loopback the client is the machine's user, so
/// the path is honoured as given; otherwise it must resolve inside one of <see cref="WebOptions.ModelFolders"/>.
/// </summary>
public sealed class ModelPathPolicy(ListenScope scope, IOptions<WebOptions> options)
{
    /// <summary>Null when the path may be used, otherwise the message for the user.</summary>
    public string? Check(string? path)
    {
        if (path is null || scope.LoopbackOnly)
            return null;
        var folders = options.Value.ModelFolders;
        if (folders.Count == 0)
            return "Custom model paths are turned off because this server is reachable from the network; " +
                   "clear the field, or ask the administrator to add a folder to FluxStudio:Web:ModelFolders.";
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return "The model path is not a valid path; enter a folder inside the configured model folders.";
        }
        foreach (var folder in folders)
        {
            var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar;
            if (full.StartsWith(root, StringComparison.Ordinal) && !IsLinkOutside(full, root))
                return null;
        }
        return "The model path must lie inside one of the configured model folders (" + string.Join(", ", folders) + ").";
    }

    // A symbolic link inside a model folder could point anywhere; follow each existing component.
    private static bool IsLinkOutside(string full, string root)
    {
        var current = full;
        while (current.Length > root.Length)
        {
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.Exists && info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
                if (target is null || !(target + Path.DirectorySeparatorChar).StartsWith(root, StringComparison.Ordinal))
                    return true;
            }
            current = Path.GetDirectoryName(current) ?? root;
        }
        return false;
    }
}
