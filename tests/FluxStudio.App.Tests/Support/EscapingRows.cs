using Microsoft.Data.Sqlite;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// History rows naming a file outside the output folder, as an older version, a crafted import or a hand edit could
/// have written them: each way such a path leads out, made real on disk.
/// </summary>
public static class EscapingRows
{
    public const string Absolute = "absolute";
    public const string DotDot = "dot-dot";
    public const string FileLink = "file-link";
    public const string FolderLink = "folder-link";

    public static TheoryData<string> Kinds() => [Absolute, DotDot, FileLink, FolderLink];

    /// <summary>
    /// The <c>output_filename</c> that leads from <paramref name="outputRoot"/> to <paramref name="outsideFile"/> the
    /// given way, creating the link it needs; the outside file must lie in a sibling folder of the output folder.
    /// </summary>
    public static string StoredPath(string kind, string outputRoot, string outsideFile)
    {
        Directory.CreateDirectory(outputRoot);
        var outsideFolder = Path.GetDirectoryName(outsideFile)!;
        var name = Path.GetFileName(outsideFile);
        switch (kind)
        {
            case Absolute:
                return outsideFile;
            case DotDot:
                return Path.Combine("..", Path.GetFileName(outsideFolder), name);
            case FileLink:
                File.CreateSymbolicLink(Path.Combine(outputRoot, "link.png"), outsideFile);
                return "link.png";
            case FolderLink:
                Directory.CreateSymbolicLink(Path.Combine(outputRoot, "linked"), outsideFolder);
                return Path.Combine("linked", name);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    /// <summary>Writes a row straight into the table of an existing, migrated database; returns its id.</summary>
    public static async Task<long> InsertAsync(string databasePath, string outputFilename, string status = "saved")
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath};Pooling=False");
        await connection.OpenAsync();
        await using var insert = connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO images (timestamp, seed, prompt, model_alias, steps, height, width, output_filename, status)
            VALUES ('2025-01-01T00:00:00.0000000Z', 1, 'crafted', 'schnell', 4, 64, 64, $file, $status)
            RETURNING id
            """;
        insert.Parameters.AddWithValue("$file", outputFilename);
        insert.Parameters.AddWithValue("$status", status);
        return (long)(await insert.ExecuteScalarAsync())!;
    }
}
