using FluxStudio.App;

namespace FluxStudio.Cli;

/// <summary>The studio settings the server would read from this process's environment, for commands that share its data.</summary>
internal static class StudioEnvironment
{
    /// <summary><c>FluxStudio__DataRoot</c> (the server's configuration key as an environment variable), else the default.</summary>
    public static string DataRoot =>
        Environment.GetEnvironmentVariable($"{StudioOptions.SectionName}__{nameof(StudioOptions.DataRoot)}") ?? StudioOptions.DefaultDataRoot;
}
