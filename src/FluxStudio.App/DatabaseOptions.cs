namespace FluxStudio.App;

/// <summary>
/// The database behind history and the queue (section <c>FluxStudio:Database</c>; environment variables
/// <c>FluxStudio__Database__Provider</c> and <c>FluxStudio__Database__ConnectionString</c>).
/// </summary>
public sealed class DatabaseOptions
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary>
    /// <c>sqlite</c> (the default): the file <see cref="StudioOptions.DatabasePath"/> on this machine. <c>postgres</c>: the
    /// PostgreSQL database <see cref="ConnectionString"/> names, which web servers and workers on several machines share.
    /// </summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>For <c>postgres</c>: an Npgsql connection string, e.g. <c>Host=db.lan;Database=fluxstudio;Username=studio;Password=…</c>.</summary>
    public string? ConnectionString { get; set; }
}
