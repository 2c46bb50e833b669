using System.Data.Common;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Data;

/// <summary>
/// The database behind history and the job queue: this machine's SQLite file (<see cref="SqliteStudioDatabase"/>), or a
/// PostgreSQL database that web servers and workers on several machines share (<see cref="PostgresStudioDatabase"/>).
/// The stores write one set of statements for both; <see cref="Sql"/> holds the few places where the two differ. Each
/// provider has its own schema and migrations, applied in place before the first use.
/// </summary>
public abstract class StudioDatabase
{
    /// <summary>The database <see cref="StudioOptions.Database"/> names.</summary>
    /// <exception cref="StudioDatabaseException">The provider is unknown, or PostgreSQL has no connection string.</exception>
    public static StudioDatabase Create(IOptions<StudioOptions> options, ILoggerFactory? loggers = null)
    {
        var database = options.Value.Database;
        loggers ??= NullLoggerFactory.Instance;
        return database.Provider.Trim().ToLowerInvariant() switch
        {
            DatabaseOptions.Sqlite or "" => new SqliteStudioDatabase(options.Value.ResolveDatabasePath(), loggers.CreateLogger<SqliteStudioDatabase>()),
            DatabaseOptions.Postgres or "postgresql" => string.IsNullOrWhiteSpace(database.ConnectionString)
                ? throw new StudioDatabaseException(
                    $"{StudioOptions.SectionName}:Database:Provider is postgres, but no connection string is set: set " +
                    $"{StudioOptions.SectionName}:Database:ConnectionString (environment variable FluxStudio__Database__ConnectionString), " +
                    "e.g. Host=db.lan;Database=fluxstudio;Username=studio;Password=….")
                : new PostgresStudioDatabase(database.ConnectionString, loggers.CreateLogger<PostgresStudioDatabase>()),
            _ => throw new StudioDatabaseException(
                $"{StudioOptions.SectionName}:Database:Provider is \"{database.Provider}\"; use sqlite (one machine) or postgres (several machines)."),
        };
    }

    /// <summary>What the database is, for messages: the file, or the PostgreSQL server and database.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Whether processes on several machines share the database. Then no process may take another's work for abandoned
    /// because it started: a job goes back to the queue when its worker's lease runs out, and only the saves of jobs that
    /// went back are repaired.
    /// </summary>
    public abstract bool IsShared { get; }

    public abstract SqlDialect Sql { get; }

    private readonly SemaphoreSlim _migrationGate = new(1, 1);
    private volatile bool _migrated;

    /// <summary>Opens a connection to an up-to-date database.</summary>
    /// <exception cref="DatabaseUnavailableException">The database server cannot be reached or refuses the connection.</exception>
    public async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        if (!_migrated)
            await MigrateAsync(ct);
        return await OpenConnectionAsync(ct);
    }

    /// <summary>
    /// Brings the schema up to date, once per instance; a database written by a newer FluxStudio is refused
    /// (<see cref="StudioDatabaseException"/>), never changed.
    /// </summary>
    public async Task MigrateAsync(CancellationToken ct)
    {
        await _migrationGate.WaitAsync(ct);
        try
        {
            if (_migrated)
                return;
            await MigrateSchemaAsync(ct);
            _migrated = true;
        }
        finally
        {
            _migrationGate.Release();
        }
    }

    /// <summary>A connection, whatever the schema.</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken ct);

    /// <summary>Applies the provider's schema steps that have not run yet.</summary>
    protected abstract Task MigrateSchemaAsync(CancellationToken ct);

    /// <summary>
    /// What the server runs before it starts, so nothing is written to a database that cannot be used: checks that it
    /// can be read (and, for a file, that it is not damaged), then brings the schema up to date.
    /// </summary>
    public abstract Task CheckAsync(CancellationToken ct);
}
