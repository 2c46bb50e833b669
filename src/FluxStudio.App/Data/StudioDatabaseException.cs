namespace FluxStudio.App.Data;

/// <summary>
/// The database cannot be used as it is: its settings make no sense, it was written by a newer FluxStudio, it is damaged
/// (<see cref="DamagedDatabaseException"/>) or cannot be reached (<see cref="DatabaseUnavailableException"/>). The message
/// is one sentence that names the database and says what to do; the server and the CLI print it instead of a stack trace.
/// </summary>
public class StudioDatabaseException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
