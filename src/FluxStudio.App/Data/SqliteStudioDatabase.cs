using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Data;

/// <summary>
/// The SQLite file behind history and the job queue, on one machine. Opens connections in WAL mode with a busy
/// timeout, so the web app, the CLI and the queue worker can write at the same time, and brings the schema up to date
/// (<c>PRAGMA user_version</c>) before the first use.
/// </summary>
public sealed class SqliteStudioDatabase : StudioDatabase
{
    private readonly string _connectionString;
    private readonly ILogger _logger;

    public SqliteStudioDatabase(IOptions<StudioOptions> options, ILogger? logger = null)
        : this(options.Value.ResolveDatabasePath(), logger)
    {
    }

    public SqliteStudioDatabase(string path, ILogger? logger = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        _logger = logger ?? NullLogger<SqliteStudioDatabase>.Instance;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    public override string Name => Path;

    public override bool IsShared => false;

    public override SqlDialect Sql => SqlDialect.Sqlite;

    /// <summary>The schema version this code writes; newer files are refused rather than damaged.</summary>
    public static int CurrentVersion => SqliteMigrations.All.Count;

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct) => await OpenRawAsync(ct);

    /// <exception cref="DamagedDatabaseException">The file is not a database, or SQLite finds it corrupt.</exception>
    protected override async Task MigrateSchemaAsync(CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            await using var connection = await OpenRawAsync(ct);
            await using (var wal = connection.CreateCommand())
            {
                // WAL persists in the file; readers no longer block the single writer.
                wal.CommandText = "PRAGMA journal_mode=WAL;";
                await wal.ExecuteNonQueryAsync(ct);
            }
            await SqliteMigrations.ApplyAsync(connection, _logger, ct);
        }
        catch (SqliteException ex) when (DamagedDatabaseException.IsDamage(ex))
        {
            throw DamagedDatabaseException.From(Path, ex);
        }
    }

    /// <summary>
    /// Checks the whole file (SQLite's <c>quick_check</c>: every page and record, without cross-checking indexes), then
    /// brings the schema up to date. The server runs it before it starts, so damage is reported before anything is
    /// written; it reads the whole file (about 0.15 s for a history of 100 000 images).
    /// </summary>
    /// <exception cref="DamagedDatabaseException">The file is not a database, or SQLite finds it corrupt.</exception>
    public override async Task CheckAsync(CancellationToken ct)
    {
        if (File.Exists(Path))
        {
            try
            {
                await using var connection = await OpenRawAsync(ct);
                await using var check = connection.CreateCommand();
                check.CommandText = "PRAGMA quick_check(1);";
                if (await check.ExecuteScalarAsync(ct) is string result && result != "ok")
                    throw new DamagedDatabaseException(Path, "SQLite's check found: " +
                        string.Join(" ", result.Split('\n', StringSplitOptions.TrimEntries).Where(line => !line.StartsWith("***", StringComparison.Ordinal))));
            }
            catch (SqliteException ex) when (DamagedDatabaseException.IsDamage(ex))
            {
                throw DamagedDatabaseException.From(Path, ex);
            }
        }
        await MigrateAsync(ct);
    }

    private async Task<SqliteConnection> OpenRawAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
            await using var pragmas = connection.CreateCommand();
            pragmas.CommandText = "PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;";
            await pragmas.ExecuteNonQueryAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
