namespace FluxStudio.App.Data;

/// <summary>
/// An exclusive lock on a data folder, held by the one process that runs the queue workers. Start-up repair
/// and job recovery treat "saving" rows and "running" jobs as abandoned, which is only true when no other
/// live process owns them; the lock guarantees that. The operating system releases it when the process
/// dies, so a crash never leaves it stuck.
/// </summary>
public sealed class DataFolderLock : IDisposable
{
    public const string FileName = "fluxstudio.lock";

    private readonly FileStream _stream;

    private DataFolderLock(FileStream stream) => _stream = stream;

    /// <summary>Takes the lock, or returns null when another process (or another host in this one) holds it.</summary>
    public static DataFolderLock? TryAcquire(string dataRoot)
    {
        Directory.CreateDirectory(dataRoot);
        try
        {
            var stream = new FileStream(Path.Combine(dataRoot, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            using (var writer = new StreamWriter(stream, leaveOpen: true))
                writer.Write(Environment.ProcessId);
            stream.Flush();
            return new DataFolderLock(stream);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _stream.Dispose();
}
