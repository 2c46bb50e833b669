using System.Globalization;
using FluxStudio.App;
using FluxStudio.App.Generation;

namespace FluxStudio.Cli;

/// <summary>The studio settings the server would read from this process's environment, for commands that share its data.</summary>
internal static class StudioEnvironment
{
    /// <summary><c>FluxStudio__DataRoot</c> (the server's configuration key as an environment variable), else the default.</summary>
    public static string DataRoot =>
        Environment.GetEnvironmentVariable($"{StudioOptions.SectionName}__{nameof(StudioOptions.DataRoot)}") ?? StudioOptions.DefaultDataRoot;

    /// <summary><c>FluxStudio__Engine__MemoryLimitGB</c>: the most memory a generation is planned against, as on the server.</summary>
    public static long? MemoryLimitBytes =>
        double.TryParse(Environment.GetEnvironmentVariable($"{EngineOptions.SectionName.Replace(":", "__")}__{nameof(EngineOptions.MemoryLimitGB)}"),
            NumberStyles.Float, CultureInfo.InvariantCulture, out var gigabytes)
            ? new EngineOptions { MemoryLimitGB = gigabytes }.MemoryLimitBytes
            : null;
}
