using FluxStudio.Engine.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FluxStudio.App.BackgroundRemoval;

public static class BackgroundRemovalServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="BackgroundRemover"/> as a singleton (it keeps the loaded model) and as
    /// <see cref="IBackgroundRemover"/>, with the studio's Hugging Face Hub client (<see cref="ModelsServiceCollectionExtensions.AddHuggingFaceHub"/>). Bind <see cref="BackgroundRemovalOptions"/> to configuration separately, or
    /// pass <paramref name="configure"/>.
    /// </summary>
    public static IServiceCollection AddBackgroundRemoval(this IServiceCollection services, Action<BackgroundRemovalOptions>? configure = null)
    {
        var options = services.AddOptions<BackgroundRemovalOptions>();
        if (configure is not null) options.Configure(configure);
        options.Validate(o => o.MaxMegapixels > 0, "BackgroundRemoval:MaxMegapixels must be greater than 0.")
            .Validate(o => o.MaxInputBytes > 0, "BackgroundRemoval:MaxInputBytes must be greater than 0.")
            .Validate(o => o.Threads >= 0, "BackgroundRemoval:Threads must be 0 (automatic) or more.")
            .Validate(o => o.MaxConcurrentRuns >= 1, "BackgroundRemoval:MaxConcurrentRuns must be 1 or more.");
        services.AddHuggingFaceHub();
        services.TryAddSingleton<BackgroundRemover>();
        services.TryAddSingleton<IBackgroundRemover>(provider => provider.GetRequiredService<BackgroundRemover>());
        return services;
    }
}
