using Microsoft.Data.Sqlite;

namespace FluxStudio.App.Data;

/// <summary>
/// The database file cannot be read as an SQLite database, or SQLite found it corrupt. FluxStudio never repairs,
/// replaces or deletes such a file: the message names it and says what the user can do.
/// </summary>
public sealed class DamagedDatabaseException(string path, string reason, Exception? inner = null)
    : StudioDatabaseException($"The database {path} is damaged ({reason}); restore it from a backup, or move it away to start with an " +
                "empty history. FluxStudio has left the file as it is.", inner)
{
    private const int SqliteCorrupt = 11;
    private const int SqliteNotADatabase = 26;

    /// <summary>Whether SQLite reports the file itself as damaged, rather than busy, locked or out of disk space.</summary>
    public static bool IsDamage(SqliteException exception) => exception.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase;

    public static DamagedDatabaseException From(string path, SqliteException exception) =>
        new(path, exception.SqliteErrorCode == SqliteNotADatabase ? "it is not an SQLite database" : "SQLite finds it malformed", exception);
}
