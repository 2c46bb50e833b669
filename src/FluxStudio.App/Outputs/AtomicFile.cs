namespace FluxStudio.App.Outputs;

/// <summary>Writes a file outside the studio's folders (a copy the user asked for), never leaving half of it under the real name.</summary>
public static class AtomicFile
{
    /// <summary>Writes beside the target first, so an interrupted run never leaves half a file under the real name.</summary>
    public static async Task WriteAsync(string path, byte[] bytes, bool overwrite, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await File.WriteAllBytesAsync(temporary, bytes, cancellationToken);
            File.Move(temporary, path, overwrite);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
