using FluxStudio.Engine.ControlNet;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.Engine.Models;

public static class ModelsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ModelLocator"/>, <see cref="ControlNetLocator"/>, <see cref="HubDownloader"/> (a typed HTTP client that leaves redirects to
    /// it) and <see cref="HubSettings"/>, read from <see cref="ModelHubOptions"/> and the environment
    /// (<paramref name="environment"/>, by default the process environment).
    /// </summary>
    public static IServiceCollection AddFluxModels(
        this IServiceCollection services, Action<ModelHubOptions>? configure = null, Func<string, string?>? environment = null)
    {
        var readEnvironment = environment ?? Environment.GetEnvironmentVariable;
        var options = services.AddOptions<ModelHubOptions>();
        if (configure is not null) options.Configure(configure);
        services.AddSingleton(provider => HubSettings.Resolve(provider.GetRequiredService<IOptions<ModelHubOptions>>().Value, readEnvironment));
        services.AddHttpClient<HubDownloader>(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                ConnectTimeout = TimeSpan.FromSeconds(30),
            });
        services.AddTransient(provider => new ModelLocator(
            provider.GetRequiredService<HubSettings>(),
            provider.GetRequiredService<HubDownloader>(),
            provider.GetService<ILogger<ModelLocator>>()));
        services.AddTransient(provider => new ControlNetLocator(
            provider.GetRequiredService<HubSettings>(),
            provider.GetRequiredService<HubDownloader>(),
            provider.GetService<ILogger<ControlNetLocator>>()));
        return services;
    }
}
