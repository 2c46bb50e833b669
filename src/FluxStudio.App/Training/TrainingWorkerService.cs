using FluxStudio.App.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Training;

/// <summary>
/// Hosts the training queue: at start it queues again the runs a stopped or crashed app left running (each continues
/// from its last checkpoint), then runs queued runs one at a time on the first configured device until the app stops.
/// Only the process holding the training folder's lock does this, so a run never trains in two processes at once.
/// </summary>
public sealed class TrainingWorkerService(TrainingJobs jobs, IOptions<StudioOptions> options, ILogger<TrainingWorkerService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var folderLock = DataFolderLock.TryAcquire(jobs.Store.Root);
        if (folderLock is null)
        {
            logger.LogWarning("Another FluxStudio process runs the training queue of {Folder}; this one leaves its runs to that process",
                jobs.Store.Root);
            return;
        }
        var recovered = await jobs.RecoverAsync(stoppingToken);
        if (recovered > 0)
            logger.LogInformation("{Count} interrupted training run(s) queued again", recovered);
        var device = options.Value.Queue.Devices.FirstOrDefault(d => !string.IsNullOrWhiteSpace(d)) ?? "default";
        await jobs.RunWorkerAsync(device, stoppingToken);
    }
}
