using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// The generation queue as its users see it: add a job, read it, list what waits, cancel; and the recovery of jobs whose
/// run ended without ending them. Jobs live in the database (<see cref="JobStore"/>), so none is lost when the app stops;
/// <see cref="GenerationWorker"/> runs them one at a time per device, first in first out, and every change is announced
/// on <see cref="GenerationEvents"/>.
/// </summary>
public sealed class GenerationQueue(
    JobStore jobs,
    GenerationEvents events,
    RunningJobs running,
    GenerationRequestValidator validator,
    IOptions<StudioOptions> options,
    TimeProvider? time = null,
    ILogger<GenerationQueue>? logger = null,
    WorkerRegistry? workers = null)
{
    private readonly QueueOptions _options = options.Value.Queue;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger<GenerationQueue> _logger = logger ?? NullLogger<GenerationQueue>.Instance;

    public int MaxLength => _options.MaxLength;

    /// <summary>
    /// Validates and stores the request as a queued job. Throws <see cref="RequestValidationException"/> for
    /// invalid settings, or when workers of a shared queue are running and none of them can run it, and
    /// <see cref="QueueFullException"/> when <see cref="MaxLength"/> jobs are waiting.
    /// </summary>
    public async Task<GenerationJob> EnqueueAsync(GenerationRequest request, CancellationToken ct)
    {
        validator.EnsureValid(request);
        await EnsureSomeWorkerCanRunAsync(request, ct);
        var job = await jobs.AddAsync(request, _options.MaxLength, _time.GetUtcNow(), ct)
                  ?? throw new QueueFullException(_options.MaxLength);
        _logger.LogInformation("Job {Id} queued", job.Id);
        events.Publish(new QueueEvent(QueueEventKind.Queued, job.Id));
        return job;
    }

    public Task<GenerationJob?> GetAsync(long id, CancellationToken ct) => jobs.GetAsync(id, ct);

    /// <summary>
    /// With a shared queue, a job no running worker can run would wait for good: it is refused, saying what the workers
    /// offer. When no worker runs at all, the job waits for one to start.
    /// </summary>
    private async Task EnsureSomeWorkerCanRunAsync(GenerationRequest request, CancellationToken ct)
    {
        if (workers is null)
            return;
        var live = await workers.ListLiveAsync(_time.GetUtcNow() - _options.LeaseDuration, ct);
        var needs = JobNeeds.Of(request);
        if (live.Count == 0 || live.Any(worker => worker.CanRun(needs)))
            return;
        var offered = live.SelectMany(w => w.Capacities ?? []).ToList();
        var ofModel = offered.Where(c => c.Model == needs.Model).ToList();
        var atQuantization = ofModel.Where(c => (c.Quantize ?? 0) == (needs.Quantize ?? 0)).ToList();
        var guided = atQuantization.Where(c => c.ControlNet || !needs.ControlNet).ToList();
        var (field, message) = atQuantization.Count > 0 && guided.Count == 0
            ? (nameof(GenerationRequest.ControlNetImagePath),
               "No running worker has the ControlNet. Generate without the ControlNet picture, or start a worker that has the ControlNet " +
               "(FluxStudio:Engine:ControlNetPath, or InstantX's Canny model in its Hugging Face cache).")
            : guided.Count > 0
            ? (nameof(GenerationRequest.Width), $"No running worker has the memory for a {request.Width}×{request.Height} image of this model " +
               $"(the largest they make is {Math.Sqrt(guided.Max(c => c.MaxPixels ?? long.MaxValue)):0}² pixels). " +
               "Make it smaller, use quantization, or start a worker with more memory.")
            : ofModel.Count > 0
                ? (nameof(GenerationRequest.Quantize), "No running worker runs this model at this quantization. Choose another quantization.")
                : (request.ModelPath is null ? nameof(GenerationRequest.Model) : nameof(GenerationRequest.ModelPath),
                   $"No running worker has the model {needs.Model} ({(offered.Count == 0 ? "they have none" : "they have " +
                       string.Join(", ", offered.Select(c => c.Model).Distinct()))}). Pick a model they have, or start a worker that has this one.");
        var result = new RequestValidationResult();
        result.Add(field, message);
        throw new RequestValidationException(result);
    }

    /// <summary>Jobs waiting or running, in the order they run.</summary>
    public Task<IReadOnlyList<GenerationJob>> ListActiveAsync(CancellationToken ct) =>
        jobs.ListAsync([JobStatus.Running, JobStatus.Queued], int.MaxValue, newestFirst: false, ct);

    /// <summary>How many jobs are ahead of a queued or running one (0: it runs or is next); null when it is neither.</summary>
    public async Task<int?> GetPositionAsync(long id, CancellationToken ct)
    {
        var active = await ListActiveAsync(ct);
        var index = active.ToList().FindIndex(j => j.Id == id);
        return index >= 0 ? index : null;
    }

    /// <summary>The most recent jobs of any state, newest first.</summary>
    public Task<IReadOnlyList<GenerationJob>> ListRecentAsync(int limit, CancellationToken ct) =>
        jobs.ListAsync(Enum.GetValues<JobStatus>(), limit, newestFirst: true, ct);

    /// <summary>Cancels a queued job at once, or asks a running one to stop at its next step.</summary>
    public async Task<CancelResult> CancelAsync(long id, CancellationToken ct)
    {
        if (await jobs.TransitionAsync(id, [JobStatus.Queued], JobStatus.Cancelled, _time.GetUtcNow(), null, ct))
        {
            events.Publish(new QueueEvent(QueueEventKind.Cancelled, id));
            return new CancelResult(true, $"Job {id} was cancelled before it started.");
        }

        var job = await jobs.GetAsync(id, ct);
        switch (job?.Status)
        {
            case null:
                return new CancelResult(false, $"There is no job {id}.");
            case JobStatus.Running when await jobs.RequestCancelAsync(id, ct):
                // This process's run stops at once; a run elsewhere hears of it from the row.
                await running.RequestCancelAsync(id);
                return new CancelResult(true, $"Job {id} is stopping.");
            case JobStatus.Running:
                return new CancelResult(false, $"Job {id} has just finished.");
            default:
                return new CancelResult(false, $"Job {id} has already finished ({job.Status.ToString().ToLowerInvariant()}).");
        }
    }

    /// <summary>
    /// Start-up recovery on one machine: a job left running or interrupted by the last run is queued again; after
    /// <see cref="QueueOptions.MaxAttempts"/> starts it is marked failed with the reason. Call before the workers start,
    /// in the one process that runs them (<see cref="Data.DataFolderLock"/>).
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        var stranded = await jobs.ListAsync([JobStatus.Running, JobStatus.Interrupted], int.MaxValue, newestFirst: false, ct);
        var recovered = 0;
        foreach (var job in stranded)
            recovered += await ReturnAsync(job, onlyIfExpired: false, ct) ? 1 : 0;
        return recovered;
    }

    /// <summary>
    /// Recovery while other machines work: a running job whose worker's lease has run out (the worker died, or lost the
    /// database) and an interrupted job go back to the queue, or fail after <see cref="QueueOptions.MaxAttempts"/> starts.
    /// Any process sharing the database may run it at any time; each job is taken back by one of them only.
    /// </summary>
    public async Task<int> RecoverExpiredAsync(CancellationToken ct)
    {
        var recovered = 0;
        foreach (var job in await jobs.ListStrandedAsync(_time.GetUtcNow(), ct))
            recovered += await ReturnAsync(job, onlyIfExpired: true, ct) ? 1 : 0;
        return recovered;
    }

    /// <summary>Queues a stranded job again, or fails it after too many starts, or cancels it if that was asked.</summary>
    private async Task<bool> ReturnAsync(GenerationJob job, bool onlyIfExpired, CancellationToken ct)
    {
        var (to, reason) = job.CancelRequested ? (JobStatus.Cancelled, null)
            : job.Attempts < _options.MaxAttempts ? (JobStatus.Queued, null)
            : (JobStatus.Failed, $"The worker stopped, crashed or lost the database while this job ran, {job.Attempts} times; it was not " +
                                 "started again. If a crash is the cause, try fewer steps, a smaller size or quantization, then queue it again.");
        if (!await jobs.ReleaseAsync(job, to, _time.GetUtcNow(), reason, onlyIfExpired, ct))
            return false;
        switch (to)
        {
            case JobStatus.Queued:
                _logger.LogWarning("Job {Id} was interrupted by a stop or crash; queued again", job.Id);
                events.Publish(new QueueEvent(QueueEventKind.Requeued, job.Id));
                break;
            case JobStatus.Cancelled:
                events.Publish(new QueueEvent(QueueEventKind.Cancelled, job.Id));
                break;
            default:
                _logger.LogError("Job {Id} failed after {Attempts} interrupted attempts", job.Id, job.Attempts);
                events.Publish(new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason });
                break;
        }
        return true;
    }
}
