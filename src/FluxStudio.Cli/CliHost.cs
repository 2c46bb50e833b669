using FluxStudio.App;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FluxStudio.Cli;

/// <summary>
/// The CLI's composition root: the generic host with the server's registrations (<see cref="ServiceCollectionExtensions.AddFluxStudio"/>)
/// and its settings sources, in the same order: <c>appsettings.json</c> (and <c>appsettings.{Environment}.json</c>) in
/// the content root (<see cref="StudioHosting.ContentRoot"/>), environment variables (<c>FluxStudio__DataRoot</c>, …),
/// then the command line, where a command's flags stand for configuration keys (<c>--data-root</c> for
/// <c>FluxStudio:DataRoot</c>, <c>--device</c> for <c>FluxStudio:Engine:Device</c>, …). The host is never started: a
/// command resolves the services it needs and runs them itself.
/// </summary>
public static class CliHost
{
    /// <param name="commandLineSettings">The command's flags as configuration keys; null values are flags not given.</param>
    /// <param name="studioLogLevel">From which level the studio's own log messages are shown (other libraries' from Warning).</param>
    public static IHost Build(IEnumerable<KeyValuePair<string, string?>> commandLineSettings, LogLevel studioLogLevel = LogLevel.Warning)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = StudioHosting.ContentRoot,
            Args = [],
        });
        builder.Configuration.AddInMemoryCollection(commandLineSettings.Where(setting => setting.Value is not null));
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new StandardErrorLoggerProvider(studioLogLevel));
        builder.Services.AddFluxStudio(builder.Configuration);
        return builder.Build();
    }

    /// <summary>A flag's value as a configuration value, or null when the flag was not given.</summary>
    public static string? Setting<T>(T? value) where T : struct =>
        value is { } given ? Convert.ToString(given, System.Globalization.CultureInfo.InvariantCulture) : null;
}

/// <summary>
/// Log messages as plain lines on standard error, where they do not mix with a command's output: the studio's own
/// from <paramref name="studioLevel"/> up (Information shows its notes, such as a download's progress), other
/// libraries' from Warning up.
/// </summary>
internal sealed class StandardErrorLoggerProvider(LogLevel studioLevel) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) =>
        new StandardErrorLogger(categoryName.StartsWith("FluxStudio.", StringComparison.Ordinal) ? studioLevel : LogLevel.Warning);

    public void Dispose()
    {
    }

    private sealed class StandardErrorLogger(LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var prefix = logLevel switch { >= LogLevel.Error => "error: ", LogLevel.Warning => "warning: ", _ => "" };
            Console.Error.WriteLine(prefix + formatter(state, exception));
        }
    }
}
