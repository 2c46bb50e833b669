using FluxStudio.App.History;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// Hosts the queue: at start it repairs history after an interruption and re-queues stranded jobs, then runs
/// one worker per configured device until the app stops.
/// </summary>
public sealed class GenerationWorkerService(
    GenerationQueue queue,
    HistoryStore history,
    IOptions<StudioOptions> options,
    ILogger<GenerationWorkerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var report = await history.ReconcileAsync(stoppingToken);
        if (report.Changed)
            logger.LogWarning("Start-up repair of history: {Report}", report);
        await queue.RecoverAsync(stoppingToken);

        var devices = options.Value.Queue.Devices.Where(d => !string.IsNullOrWhiteSpace(d)).Distinct().ToList();
        if (devices.Count == 0)
            devices.Add("default");
        logger.LogInformation("Generation workers started for {Devices}", string.Join(", ", devices));
        await Task.WhenAll(devices.Select(device => queue.RunWorkerAsync(device, stoppingToken)));
    }
}
