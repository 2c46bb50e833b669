using FluxStudio.Engine.ControlNet;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.Engine.Models;

public static class ModelsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the one Hugging Face Hub client of the studio: <see cref="HubSettings"/>, read from
    /// <see cref="ModelHubOptions"/> and the environment (<paramref name="environment"/>, by default the process
    /// environment) as Python's huggingface_hub reads it, and <see cref="HubDownloader"/> (a typed HTTP client that
    /// leaves redirects to it). Every model the studio fetches (FLUX.1 parts, the background-removal model) goes
    /// through them into the one cache. Registering twice keeps the first registration.
    /// </summary>
    public static IServiceCollection AddHuggingFaceHub(
        this IServiceCollection services, Action<ModelHubOptions>? configure = null, Func<string, string?>? environment = null)
    {
        var options = services.AddOptions<ModelHubOptions>();
        if (configure is not null) options.Configure(configure);
        if (services.Any(d => d.ServiceType == typeof(HubSettings))) return services;
        var readEnvironment = environment ?? Environment.GetEnvironmentVariable;
        services.AddSingleton(provider => HubSettings.Resolve(provider.GetRequiredService<IOptions<ModelHubOptions>>().Value, readEnvironment));
        services.AddHttpClient<HubDownloader>(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                ConnectTimeout = TimeSpan.FromSeconds(30),
            });
        return services;
    }

    /// <summary>
    /// Registers the Hub client (<see cref="AddHuggingFaceHub"/>), <see cref="ModelLocator"/>, which finds and fetches
    /// FLUX.1, and <see cref="ControlNetLocator"/>, which does the same for its ControlNet.
    /// </summary>
    public static IServiceCollection AddFluxModels(
        this IServiceCollection services, Action<ModelHubOptions>? configure = null, Func<string, string?>? environment = null)
    {
        services.AddHuggingFaceHub(configure, environment);
        services.TryAddTransient(provider => new ModelLocator(
            provider.GetRequiredService<HubSettings>(),
            provider.GetRequiredService<HubDownloader>(),
            provider.GetService<ILogger<ModelLocator>>()));
        services.TryAddTransient(provider => new ControlNetLocator(
            provider.GetRequiredService<HubSettings>(),
            provider.GetRequiredService<HubDownloader>(),
            provider.GetService<ILogger<ControlNetLocator>>()));
        return services;
    }
}
