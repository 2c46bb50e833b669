using FluxStudio.App.BackgroundRemoval;
using FluxStudio.App.Data;
using FluxStudio.App.Enhancement;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using FluxStudio.App.Training;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Everything the studio does, configured from <paramref name="configuration"/>: the same registrations for the web
    /// server and the CLI. The server also starts the hosted generation worker; the CLI only resolves services.
    /// </summary>
    public static IServiceCollection AddFluxStudio(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddFluxStudioCore(configuration);
        services.AddFluxStudioEngine(configuration);
        services.AddPromptEnhancer(options => configuration.GetSection(EnhancerOptions.SectionName).Bind(options));
        services.AddBackgroundRemoval(options => configuration.GetSection(BackgroundRemovalOptions.SectionName).Bind(options));
        return services;
    }

    /// <summary>
    /// Registers history, outputs, the LoRA catalog, the request validator, the generation use case and the queue
    /// (jobs, events, worker and its hosted service), configured from the <c>FluxStudio</c> section. The image
    /// generator itself (<see cref="IImageGenerator"/>) is registered by the engine.
    /// </summary>
    public static IServiceCollection AddFluxStudioCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StudioOptions>().Bind(configuration.GetSection(StudioOptions.SectionName));
        services.AddOptions<GenerationRequestValidatorOptions>().Bind(configuration.GetSection($"{StudioOptions.SectionName}:Validation"));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => StudioDatabase.Create(sp.GetRequiredService<IOptions<StudioOptions>>(), sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<HistoryStore>();
        services.TryAddSingleton<OriginalHistoryImporter>();
        services.TryAddSingleton<LoraCatalog>();
        services.TryAddSingleton<OutputStore>();
        services.TryAddSingleton<InputImageStore>();
        services.TryAddSingleton(sp => new ModelProbe(sp.GetService<ModelLocator>()));
        services.TryAddSingleton(sp => new GenerationRequestValidator(
            sp.GetRequiredService<IOptions<GenerationRequestValidatorOptions>>().Value, sp.GetRequiredService<LoraCatalog>(),
            sp.GetRequiredService<ModelProbe>()));
        services.TryAddSingleton<ImageGenerationService>();
        services.TryAddSingleton<TrainedLoraCatalog>();
        services.TryAddSingleton<TrainingService>();
        services.TryAddSingleton<TrainingRunStore>();
        services.TryAddSingleton<TrainingJobs>();
        services.AddHostedService<TrainingWorkerService>();
        services.TryAddSingleton<JobStore>();
        services.TryAddSingleton<GenerationEvents>();
        services.TryAddSingleton<RunningJobs>();
        services.TryAddSingleton<GenerationQueue>();
        services.TryAddSingleton<GenerationWorker>();
        services.TryAddSingleton<WorkerRegistry>();
        services.TryAddSingleton(sp => new WorkerCapabilities(sp.GetRequiredService<IOptions<StudioOptions>>(),
            sp.GetRequiredService<IOptions<EngineOptions>>(), sp.GetService<ModelLocator>(), sp.GetService<ILogger<WorkerCapabilities>>(),
            sp.GetService<IDeviceMemory>(), sp.GetService<ControlNetLocator>()));
        services.AddHostedService<GenerationWorkerService>();
        services.TryAddSingleton<QueueEventRelay>();
        services.AddHostedService(sp => sp.GetRequiredService<QueueEventRelay>());
        return services;
    }

    /// <summary>
    /// Registers the FLUX.1 engine as the image generator: the model locator and the Hub client (section
    /// <c>Models</c>), and <see cref="FluxImageGenerator"/> with <see cref="EngineOptions"/> (<c>FluxStudio:Engine</c>).
    /// </summary>
    public static IServiceCollection AddFluxStudioEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddFluxModels(options => configuration.GetSection(ModelHubOptions.SectionName).Bind(options));
        services.AddOptions<EngineOptions>().Bind(configuration.GetSection(EngineOptions.SectionName));
        services.TryAddSingleton<FluxImageGenerator>();
        services.TryAddSingleton<IImageGenerator>(sp => sp.GetRequiredService<FluxImageGenerator>());
        return services;
    }
}
