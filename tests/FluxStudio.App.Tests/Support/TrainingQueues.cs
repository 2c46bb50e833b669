using FluxStudio.App.Generation;
using FluxStudio.App.Training;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.App.Tests.Support;

/// <summary>The training queue over a sandbox's data folder and database, as a (re)started app builds it.</summary>
public static class TrainingQueues
{
    /// <summary>With the real engine on the CPU (no downloads); the caller disposes the generators it adds to <paramref name="owned"/>.</summary>
    public static TrainingJobs WithEngine(StudioSandbox sandbox, ICollection<FluxImageGenerator> owned)
    {
        var hub = HubSettings.Resolve(new ModelHubOptions { AllowDownload = false }, _ => null);
        var generator = new FluxImageGenerator(new ModelLocator(hub), new ControlNetLocator(hub),
            new StaticOptionsMonitor<EngineOptions>(new EngineOptions { Device = "cpu", Precision = "fp32" }),
            new StaticOptionsMonitor<StudioOptions>(sandbox.Options), NullLogger<FluxImageGenerator>.Instance);
        owned.Add(generator);
        return Create(sandbox, new ServiceCollection().AddSingleton<IImageGenerator>(generator).BuildServiceProvider());
    }

    /// <summary>Without an engine, for a process that never trains (a web server, or a test of the queue alone).</summary>
    public static TrainingJobs WithoutEngine(StudioSandbox sandbox) => Create(sandbox, new ServiceCollection().BuildServiceProvider());

    private static TrainingJobs Create(StudioSandbox sandbox, IServiceProvider services)
    {
        var options = Microsoft.Extensions.Options.Options.Create(sandbox.Options);
        return new TrainingJobs(new TrainingRunStore(sandbox.Database, options, sandbox.Time),
            new TrainingService(services, new TrainedLoraCatalog(sandbox.Loras)), options, sandbox.Time, workers: new WorkerRegistry(sandbox.Database));
    }
}
