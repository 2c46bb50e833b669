using FluxStudio.App.Enhancement;
using Microsoft.Extensions.DependencyInjection.Extensions;

// Extension methods live in the DI namespace so they show up wherever services are configured.
namespace Microsoft.Extensions.DependencyInjection;

public static class EnhancerServiceCollectionExtensions
{
    /// <summary>Registers <see cref="PromptEnhancer"/>; settings come from <see cref="EnhancerOptions"/>.</summary>
    public static IServiceCollection AddPromptEnhancer(this IServiceCollection services, Action<EnhancerOptions>? configure = null)
    {
        var optionsBuilder = services.AddOptions<EnhancerOptions>();
        if (configure is not null)
            optionsBuilder.Configure(configure);
        services.AddHttpClient(PromptEnhancer.HttpClientName)
            // Answers stream for minutes; the enhancer times out on silence instead of on total length.
            .ConfigureHttpClient(http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<PromptEnhancer>();
        return services;
    }
}
