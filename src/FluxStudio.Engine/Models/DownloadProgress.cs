namespace FluxStudio.Engine.Models;

/// <summary>How far a repository download is.</summary>
/// <param name="RepoId">The repository being downloaded.</param>
/// <param name="CurrentFile">The repository path of the file being transferred.</param>
/// <param name="FileNumber">1-based number of the current file.</param>
/// <param name="FileCount">How many files are fetched in all (including those already in the cache).</param>
/// <param name="FileBytesDone">Bytes of the current file on disk, including bytes kept from an earlier attempt.</param>
/// <param name="FileBytesTotal">Size of the current file, when the server said.</param>
/// <param name="BytesDone">Bytes on disk over all files.</param>
/// <param name="BytesTotal">Size of all files, when every size is known.</param>
public sealed record DownloadProgress(
    string RepoId,
    string CurrentFile,
    int FileNumber,
    int FileCount,
    long FileBytesDone,
    long? FileBytesTotal,
    long BytesDone,
    long? BytesTotal);
