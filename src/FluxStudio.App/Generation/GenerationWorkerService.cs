using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// Hosts the queue: at start it repairs history after an interruption, re-queues stranded jobs and removes uploaded
/// pictures no job needs any more (<see cref="InputImageStore.Purge"/>), then runs
/// one worker per configured device until the app stops. Only the process holding the data folder's
/// <see cref="DataFolderLock"/> does this; others (a CLI next to the web app) only add jobs.
/// </summary>
public sealed class GenerationWorkerService(
    GenerationQueue queue,
    GenerationWorker worker,
    HistoryStore history,
    InputImageStore inputs,
    IOptions<StudioOptions> options,
    ILogger<GenerationWorkerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var folderLock = DataFolderLock.TryAcquire(options.Value.ResolveDataRoot());
        if (folderLock is null)
        {
            logger.LogWarning(
                "Another FluxStudio process is running the generation queue for {DataRoot}; this one adds jobs but leaves running them to that process",
                options.Value.ResolveDataRoot());
            return;
        }

        // The store logs what the repair changed.
        await history.ReconcileAsync(stoppingToken);
        await queue.RecoverAsync(stoppingToken);
        var waiting = await queue.ListActiveAsync(stoppingToken);
        inputs.Purge(options.Value.UploadRetention, waiting.SelectMany(job => new[] { job.Request.ControlNetImagePath, job.Request.InitImagePath }));

        var devices = options.Value.Queue.Devices.Where(d => !string.IsNullOrWhiteSpace(d)).Distinct().ToList();
        if (devices.Count == 0)
            devices.Add("default");
        logger.LogInformation("Generation workers started for {Devices}", string.Join(", ", devices));
        await Task.WhenAll(devices.Select(device => worker.RunWorkerAsync(device, stoppingToken)));
    }
}
