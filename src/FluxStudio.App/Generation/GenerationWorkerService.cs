using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// Hosts the queue's workers, one per configured device, until the app stops (none when
/// <see cref="QueueOptions.LocalWorkers"/> is off).
/// <para>
/// On one machine (SQLite), only the process holding the data folder's <see cref="DataFolderLock"/> runs them (others, a
/// CLI next to the web app, only add jobs), and at start it re-queues the jobs the last run left, repairs history and
/// removes uploaded pictures no job needs any more (<see cref="InputImageStore.Purge"/>).
/// </para>
/// <para>
/// With a shared database (PostgreSQL), every process may run workers. Each worker says what it can run
/// (<see cref="WorkerCapabilities"/>, <see cref="WorkerRegistry"/>) and claims only such jobs; every third of a lease the
/// process renews its workers' rows, takes back the jobs whose worker's lease ran out (<see cref="GenerationQueue.RecoverExpiredAsync"/>)
/// and then repairs the saves those left. Every process, with workers or without, removes at start the uploaded
/// pictures of its own upload folder that no waiting job needs.
/// </para>
/// </summary>
public sealed class GenerationWorkerService(
    GenerationQueue queue,
    GenerationWorker worker,
    HistoryStore history,
    StudioDatabase database,
    WorkerCapabilities capabilities,
    WorkerRegistry registry,
    InputImageStore inputs,
    IOptions<StudioOptions> options,
    ILogger<GenerationWorkerService> logger,
    TimeProvider? time = null) : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var queueOptions = options.Value.Queue;
        if (database.IsShared)
            await PurgeUploadsAsync(stoppingToken);
        if (!queueOptions.LocalWorkers)
        {
            logger.LogInformation("This process runs no generation workers ({Setting} is off); `fluxstudio worker` processes run the jobs",
                $"{StudioOptions.SectionName}:Queue:LocalWorkers");
            return;
        }
        var devices = queueOptions.Devices.Where(d => !string.IsNullOrWhiteSpace(d)).Distinct().ToList();
        if (devices.Count == 0)
            devices.Add("default");
        if (database.IsShared)
            await RunSharedAsync(devices, stoppingToken);
        else
            await RunAloneAsync(devices, stoppingToken);
    }

    private async Task RunAloneAsync(List<string> devices, CancellationToken stoppingToken)
    {
        using var folderLock = DataFolderLock.TryAcquire(options.Value.ResolveDataRoot());
        if (folderLock is null)
        {
            logger.LogWarning(
                "Another FluxStudio process is running the generation queue for {DataRoot}; this one adds jobs but leaves running them to that process",
                options.Value.ResolveDataRoot());
            return;
        }

        // Jobs first: a save is abandoned once no running job holds its claim. Both log what they changed.
        await queue.RecoverAsync(stoppingToken);
        await history.ReconcileAsync(stoppingToken);
        await PurgeUploadsAsync(stoppingToken);

        logger.LogInformation("Generation workers started for {Devices}", string.Join(", ", devices));
        await Task.WhenAll(devices.Select(device => worker.RunWorkerAsync(WorkerProfile.Local(device), stoppingToken)));
    }

    private async Task RunSharedAsync(List<string> devices, CancellationToken stoppingToken)
    {
        // What workers that died while none was running left: their jobs, then their saves.
        await queue.RecoverExpiredAsync(stoppingToken);
        await history.ReconcileAsync(stoppingToken);
        var profiles = devices.Select(capabilities.Describe).ToList();
        foreach (var profile in profiles)
        {
            logger.LogInformation("Generation worker {Name} started on the shared queue of {Database}; it runs {Capacities}", profile.Name,
                database.Name, profile.Capacities is { Count: > 0 } offered
                    ? string.Join(", ", offered.Select(Describe))
                    : "nothing: no model was found (download one with `fluxstudio download`, or list paths in FluxStudio:Worker:Models)");
            await registry.AnnounceAsync(profile, _time.GetUtcNow(), stoppingToken);
        }
        try
        {
            await Task.WhenAll(profiles.Select(profile => worker.RunWorkerAsync(profile, stoppingToken)).Append(MaintainAsync(profiles, stoppingToken)));
        }
        finally
        {
            foreach (var profile in profiles)
                await RemoveQuietlyAsync(profile);
        }
    }

    /// <summary>Renews the workers' rows and takes back the jobs of workers that died, every third of a lease.</summary>
    private async Task MaintainAsync(IReadOnlyList<WorkerProfile> profiles, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Queue.LeaseDuration / 3, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    foreach (var profile in profiles)
                        await registry.AnnounceAsync(profile, _time.GetUtcNow(), stoppingToken);
                    if (await queue.RecoverExpiredAsync(stoppingToken) > 0)
                        await history.ReconcileAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Looking after the shared queue failed; trying again");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Removes the uploaded pictures past their retention that no waiting or running job names.</summary>
    private async Task PurgeUploadsAsync(CancellationToken ct)
    {
        var waiting = await queue.ListActiveAsync(ct);
        inputs.Purge(options.Value.UploadRetention, waiting.SelectMany(job => new[] { job.Request.ControlNetImagePath, job.Request.InitImagePath }));
    }

    private async Task RemoveQuietlyAsync(WorkerProfile profile)
    {
        try
        {
            await registry.RemoveAsync(profile, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Its row ages out; others stop counting it once it is no longer renewed.
            logger.LogDebug(ex, "Removing worker {Name} from the registry failed", profile.Name);
        }
    }

    private static string Describe(ModelCapacity capacity) =>
        $"{capacity.Model} ({(capacity.Quantize is { } q ? $"{q}-bit" : "unquantized")}{(capacity.ControlNet ? ", with the ControlNet" : "")}, " +
        $"up to {(capacity.MaxPixels is { } p ? $"{(long)Math.Sqrt(p)}² pixels" : "any size")})";
}
