using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Training;

/// <summary>
/// Hosts the training queue's worker: one, on the first configured device, training one run at a time until the app stops.
/// <para>
/// On one machine (SQLite), only the process holding the training folder's lock trains, so a run never trains in two
/// processes at once; at start it queues again the runs the last start left running (each continues from its last
/// checkpoint).
/// </para>
/// <para>
/// With a shared database (PostgreSQL), every process with local workers (<see cref="QueueOptions.LocalWorkers"/>) trains,
/// as the worker the device's capabilities describe (<see cref="WorkerCapabilities"/>): it claims only runs whose model it
/// has. Every third of a lease it takes back the runs whose worker stopped or died (<see cref="TrainingJobs.RecoverExpiredAsync"/>).
/// </para>
/// </summary>
public sealed class TrainingWorkerService(
    TrainingJobs jobs,
    StudioDatabase database,
    WorkerCapabilities capabilities,
    IOptions<StudioOptions> options,
    ILogger<TrainingWorkerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var device = options.Value.Queue.Devices.FirstOrDefault(d => !string.IsNullOrWhiteSpace(d)) ?? "default";
        if (database.IsShared)
        {
            if (!options.Value.Queue.LocalWorkers)
                return;
            var profile = capabilities.Describe(device);
            await jobs.RecoverExpiredAsync(stoppingToken);
            await Task.WhenAll(jobs.RunWorkerAsync(profile, stoppingToken), MaintainAsync(stoppingToken));
            return;
        }

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
        await jobs.RunWorkerAsync(WorkerProfile.Local(device), stoppingToken);
    }

    /// <summary>Takes back the runs of workers that stopped or died, every third of a lease.</summary>
    private async Task MaintainAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Queue.LeaseDuration / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await jobs.RecoverExpiredAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Taking back the training runs of stopped workers failed; trying again");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
