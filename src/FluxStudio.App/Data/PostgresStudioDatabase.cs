using System.Data.Common;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FluxStudio.App.Data;

/// <summary>
/// A PostgreSQL database behind history and the job queue, shared by web servers and workers on several machines.
/// Connections come from one pooled <see cref="NpgsqlDataSource"/>; the schema is brought up to date before the first use.
/// </summary>
public sealed class PostgresStudioDatabase : StudioDatabase, IAsyncDisposable, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;

    public PostgresStudioDatabase(string connectionString, ILogger? logger = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // Dead connections (a server restart, a dropped link) are found and replaced instead of hanging a worker.
        if (builder.KeepAlive == 0)
            builder.KeepAlive = 30;
        Name = $"{builder.Database ?? builder.Username ?? "postgres"} on {builder.Host}:{builder.Port}";
        _dataSource = NpgsqlDataSource.Create(builder);
        _logger = logger ?? NullLogger<PostgresStudioDatabase>.Instance;
    }

    public override string Name { get; }

    public override bool IsShared => true;

    public override SqlDialect Sql => SqlDialect.Postgres;

    /// <summary>The schema version this code writes; newer databases are refused rather than changed.</summary>
    public static int CurrentVersion => PostgresMigrations.All.Count;

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct) => await OpenRawAsync(ct);

    protected override async Task MigrateSchemaAsync(CancellationToken ct)
    {
        await using var connection = await OpenRawAsync(ct);
        await PostgresMigrations.ApplyAsync(connection, Name, _logger, ct);
    }

    public override Task CheckAsync(CancellationToken ct) => MigrateAsync(ct);

    private async Task<NpgsqlConnection> OpenRawAsync(CancellationToken ct)
    {
        try
        {
            return await _dataSource.OpenConnectionAsync(ct);
        }
        catch (NpgsqlException ex) when (!ct.IsCancellationRequested)
        {
            throw new DatabaseUnavailableException(Name, Reason(ex), ex);
        }
    }

    private static string Reason(NpgsqlException ex) => ex switch
    {
        PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName } => "the database does not exist; create it with createdb",
        PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification } =>
            "the server refused the user name or password",
        PostgresException postgres => postgres.MessageText,
        _ => ex.InnerException?.Message ?? ex.Message,
    };

    public async ValueTask DisposeAsync() => await _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();
}
