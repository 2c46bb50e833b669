using FluxStudio.App.Data;
using FluxStudio.App.Inputs;
using FluxStudio.Engine;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// Runs the queue's jobs: <see cref="RunWorkerAsync"/> is one device's loop, <see cref="RunNextAsync(WorkerProfile, CancellationToken)"/>
/// claims the oldest queued job the worker can run and runs it through <see cref="ImageGenerationService"/> to its end
/// (done, failed, cancelled, or interrupted when the app stops), which is what tests call. Jobs are claimed in the store,
/// so workers on several devices, in several processes or on several machines never run the same one. A claim is a
/// lease: the run renews it while it works and stops when it finds it lost, and each change the run makes to its job
/// (each image it saves, done, failed, cancelled) happens only while it still holds the claim.
/// </summary>
public sealed class GenerationWorker
{
    private readonly JobStore _jobs;
    private readonly GenerationEvents _events;
    private readonly RunningJobs _running;
    private readonly ImageGenerationService _generation;
    private readonly InputImageStore _inputs;
    private readonly QueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GenerationWorker> _logger;
    private readonly IMemoryRemedyWording _memoryWording;
    private TaskCompletionSource _workArrived = NewSignal();

    /// <param name="memoryWording">How the surface that shows the jobs words memory advice (plain words by default).</param>
    public GenerationWorker(JobStore jobs, GenerationEvents events, RunningJobs running, ImageGenerationService generation,
        InputImageStore inputs, IOptions<StudioOptions> options, TimeProvider? time = null, ILogger<GenerationWorker>? logger = null,
        IMemoryRemedyWording? memoryWording = null)
    {
        (_jobs, _events, _running, _generation, _inputs) = (jobs, events, running, generation, inputs);
        _memoryWording = memoryWording ?? PlainMemoryRemedyWording.Instance;
        _options = options.Value.Queue;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<GenerationWorker>.Instance;
        // A job queued in this process (or announced by another) wakes the workers at once; polling finds the rest.
        _events.Changed += (_, e) =>
        {
            if (e.Kind is QueueEventKind.Queued or QueueEventKind.Requeued)
                Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();
        };
    }

    /// <summary>Runs jobs as <paramref name="worker"/> until <paramref name="ct"/> is cancelled (the app stopping).</summary>
    public Task RunWorkerAsync(WorkerProfile worker, CancellationToken ct) =>
        WorkerLoop.RunAsync(token => RunNextAsync(worker, token), () => _workArrived.Task, ex => ex is not SimulatedCrashException,
            _options.PollInterval, _time, _logger, $"The {worker.Name} worker", ct);

    /// <summary>Runs the oldest queued job on <paramref name="device"/> as this machine's worker, which runs any job.</summary>
    public Task<bool> RunNextAsync(string device, CancellationToken ct) => RunNextAsync(WorkerProfile.Local(device), ct);

    /// <summary>
    /// Runs the oldest queued job <paramref name="worker"/> can run, if there is one, to its end: done, failed,
    /// cancelled, or interrupted when <paramref name="ct"/> (the app stopping) fires. Returns false when no such job
    /// was waiting.
    /// </summary>
    public async Task<bool> RunNextAsync(WorkerProfile worker, CancellationToken ct)
    {
        var job = await _jobs.ClaimNextAsync(worker, _time.GetUtcNow(), _options.LeaseDuration, ct);
        if (job is null)
            return false;
        var claim = job.Claim!;

        using var run = _running.Register(job.Id, ct);
        await using var lease = new LeaseKeeper(_options.LeaseDuration, _time, _logger, $"Job {job.Id}",
            c => _jobs.RenewAsync(job.Id, claim, _time.GetUtcNow(), _options.LeaseDuration, c),
            () => _running.StopAsync(job.Id), () => _running.RequestCancelAsync(job.Id));
        // An earlier attempt may have made some of the batch's images already; only the rest is made now.
        var made = job.ImageIds.Count;
        var images = job.Request.ImageCount;
        var imageIds = job.ImageIds.ToList();
        try
        {
            _logger.LogInformation("Job {Id} started on {Worker} (attempt {Attempt})", job.Id, worker.Name, job.Attempts);
            _events.Publish(new QueueEvent(QueueEventKind.Started, job.Id));
            var progress = new SynchronousProgress<GenerationProgress>(p =>
            {
                // "Done" is announced as ImageSaved and Completed, once the image is saved. While the model loads, the
                // step counts are the download's files, so they are not passed on as steps.
                if (p.Stage == GenerationStage.Done)
                    return;
                var loading = p.Stage == GenerationStage.LoadingModel;
                _events.Publish(new QueueEvent(QueueEventKind.Progress, job.Id)
                {
                    Stage = p.Stage,
                    Download = p.Download,
                    Step = loading ? null : p.Step,
                    TotalSteps = loading ? null : p.TotalSteps,
                    PreviewPng = p.PreviewPng,
                    Image = made + p.Image,
                    Images = images,
                });
            });
            var output = new GenerationOutput
            {
                Device = worker.Device,
                BatchId = images > 1 ? BatchIdOf(job) : null,
                Job = new JobRun(claim, (transaction, imageId, c) => _jobs.AddImageAsync(transaction, job.Id, claim, imageId, c)),
                InputCopies = await CopyPicturesAsync(job, run.Token),
            };
            var warnings = new List<string>();
            var rest = made < images
                ? _generation.GenerateAsync(job.Request.Remaining(made), output, progress, run.Token)
                : AsyncEnumerable.Empty<GenerationOutcome>();
            await foreach (var outcome in rest)
            {
                imageIds.Add(outcome.Record.Id);
                warnings.AddRange(outcome.Warnings.Except(warnings));
                _logger.LogInformation("Job {Id}: image {Image} of {Images} saved as {Path}", job.Id, made + outcome.Image, images,
                    outcome.Record.ImagePath);
                _events.Publish(new QueueEvent(QueueEventKind.ImageSaved, job.Id)
                {
                    ImageId = outcome.Record.Id, ImageIds = imageIds.ToList(), Image = made + outcome.Image, Images = images,
                });
            }
            foreach (var warning in warnings)
                _logger.LogWarning("Job {Id}: {Warning}", job.Id, warning);
            await EndAsync(job.Id, claim, JobStatus.Done, _time.GetUtcNow(), null, new QueueEvent(QueueEventKind.Completed, job.Id)
            {
                ImageId = imageIds.Count > 0 ? imageIds[0] : null, ImageIds = imageIds, Warnings = warnings, Image = images, Images = images,
            }, warnings);
            _logger.LogInformation("Job {Id} done: {Count} image(s)", job.Id, imageIds.Count);
        }
        catch (Exception ex) when (ex is ClaimLostException || (lease.Lost && ex is not SimulatedCrashException))
        {
            // The job is another run's now (or back in the queue, announced by whoever took it back): nothing to record.
            _logger.LogWarning("Job {Id}: this worker lost its claim on the job (its lease ran out); the run is discarded", job.Id);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !_running.IsCancelRequested(job.Id))
        {
            await EndAsync(job.Id, claim, JobStatus.Interrupted, null,
                "The worker stopped while this job ran; it runs again when a worker is free.", new QueueEvent(QueueEventKind.Interrupted, job.Id));
            _logger.LogWarning("Job {Id} interrupted by shutdown", job.Id);
        }
        catch (OperationCanceledException) when (run.IsCancelled)
        {
            await EndAsync(job.Id, claim, JobStatus.Cancelled, _time.GetUtcNow(), null, new QueueEvent(QueueEventKind.Cancelled, job.Id) { ImageIds = imageIds });
            _logger.LogInformation("Job {Id} cancelled", job.Id);
        }
        catch (Exception ex) when (ex is not SimulatedCrashException)
        {
            var reason = Describe(ex, job.Request);
            _logger.LogError(ex, "Job {Id} failed", job.Id);
            await EndAsync(job.Id, claim, JobStatus.Failed, _time.GetUtcNow(), reason,
                new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason, ImageIds = imageIds });
        }
        return true;
    }

    /// <summary>
    /// The job's pictures, copied from the database into this machine's upload folder when the job carries them (a shared
    /// database): the machine that queued it may be another one, whose files are not here.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, string>> CopyPicturesAsync(GenerationJob job, CancellationToken ct)
    {
        var copies = new Dictionary<string, string>();
        foreach (var (path, picture) in await _jobs.GetPicturesAsync(job.Id, ct))
            copies[path] = (await _inputs.SaveCopyAsync(picture, path, ct)).Path;
        return copies;
    }

    /// <summary>Records how a run ended and announces it, unless the run lost its job meanwhile.</summary>
    private async Task EndAsync(long id, string claim, JobStatus status, DateTimeOffset? finishedAt, string? error, QueueEvent announcement,
        IReadOnlyList<string>? warnings = null)
    {
        if (await _jobs.EndRunAsync(id, claim, status, finishedAt, error, CancellationToken.None, warnings))
            _events.Publish(announcement);
        else
            _logger.LogWarning("Job {Id} was no longer this worker's when it ended ({Status}); left as it is", id, status);
    }

    /// <summary>The batch id of a job's images: the same on every attempt, so a re-run continues the batch.</summary>
    public static string BatchIdOf(GenerationJob job) => $"job-{job.Id}";

    /// <summary>The job's failure in one sentence; memory advice in the terms of the surface that shows it.</summary>
    private string Describe(Exception ex, GenerationRequest request) => ex switch
    {
        EngineMemoryException memory => memory.Describe(_memoryWording),
        _ when EngineMemoryException.IsAllocationFailure(ex) =>
            MemoryShortfall.Unplanned(request.Width, request.Height, "generating", _generation.SizeMultiple(request)).Describe(_memoryWording),
        _ => ex.Message,
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
