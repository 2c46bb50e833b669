namespace FluxStudio.Cli;

/// <summary>The exit codes of every command, which a script can act on.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int InvalidInput = 2;
    public const int ModelNotFound = 3;
    public const int OutOfMemory = 4;
    /// <summary>Stopped with Ctrl+C: 128 + SIGINT, as shells report it.</summary>
    public const int Cancelled = 130;
}
