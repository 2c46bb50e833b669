namespace FluxStudio.App.Data;

/// <summary>The database server cannot be reached, or refuses the connection; the message names it and says what to do.</summary>
public sealed class DatabaseUnavailableException(string name, string reason, Exception? inner = null)
    : StudioDatabaseException($"FluxStudio cannot use the PostgreSQL database {name} ({reason}). Check that the server runs and is reachable from " +
                "this machine, and the connection string (FluxStudio:Database:ConnectionString).", inner);
