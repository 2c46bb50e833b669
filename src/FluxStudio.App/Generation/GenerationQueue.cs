using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// The generation queue as its users see it: add a job, read it, list what waits, cancel. Jobs live in the database
/// (<see cref="JobStore"/>), so none is lost when the app stops; <see cref="GenerationWorker"/> runs them one at a time
/// per device, first in first out, and every change is announced on <see cref="GenerationEvents"/>.
/// </summary>
public sealed class GenerationQueue(
    JobStore jobs,
    GenerationEvents events,
    RunningJobs running,
    GenerationRequestValidator validator,
    IOptions<StudioOptions> options,
    TimeProvider? time = null,
    ILogger<GenerationQueue>? logger = null)
{
    private readonly QueueOptions _options = options.Value.Queue;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger<GenerationQueue> _logger = logger ?? NullLogger<GenerationQueue>.Instance;

    public int MaxLength => _options.MaxLength;

    /// <summary>
    /// Validates and stores the request as a queued job. Throws <see cref="RequestValidationException"/> for
    /// invalid settings and <see cref="QueueFullException"/> when <see cref="MaxLength"/> jobs are waiting.
    /// </summary>
    public async Task<GenerationJob> EnqueueAsync(GenerationRequest request, CancellationToken ct)
    {
        validator.EnsureValid(request);
        var job = await jobs.AddAsync(request, _options.MaxLength, _time.GetUtcNow(), ct)
                  ?? throw new QueueFullException(_options.MaxLength);
        _logger.LogInformation("Job {Id} queued", job.Id);
        events.Publish(new QueueEvent(QueueEventKind.Queued, job.Id));
        return job;
    }

    public Task<GenerationJob?> GetAsync(long id, CancellationToken ct) => jobs.GetAsync(id, ct);

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
        if (await jobs.TransitionAsync(id, [JobStatus.Queued], JobStatus.Cancelled, _time.GetUtcNow(), null, null, ct))
        {
            events.Publish(new QueueEvent(QueueEventKind.Cancelled, id));
            return new CancelResult(true, $"Job {id} was cancelled before it started.");
        }

        var job = await jobs.GetAsync(id, ct);
        switch (job?.Status)
        {
            case null:
                return new CancelResult(false, $"There is no job {id}.");
            case JobStatus.Running:
                await running.RequestCancelAsync(id);
                return new CancelResult(true, $"Job {id} is stopping.");
            default:
                return new CancelResult(false, $"Job {id} has already finished ({job.Status.ToString().ToLowerInvariant()}).");
        }
    }

    /// <summary>
    /// Start-up recovery: a job left running or interrupted by the last run is queued again once; after
    /// <see cref="QueueOptions.MaxAttempts"/> starts it is marked failed with the reason. Call before the
    /// workers start.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        var stranded = await jobs.ListAsync([JobStatus.Running, JobStatus.Interrupted], int.MaxValue, newestFirst: false, ct);
        foreach (var job in stranded)
        {
            if (job.Attempts < _options.MaxAttempts)
            {
                await jobs.TransitionAsync(job.Id, [JobStatus.Running, JobStatus.Interrupted], JobStatus.Queued, null, null, null, ct);
                _logger.LogWarning("Job {Id} was interrupted by a stop or crash; queued again", job.Id);
                events.Publish(new QueueEvent(QueueEventKind.Requeued, job.Id));
            }
            else
            {
                var reason = $"The app stopped or crashed while this job ran, {job.Attempts} times; it was not started again. " +
                             "If a crash is the cause, try fewer steps, a smaller size or quantization, then queue it again.";
                await jobs.TransitionAsync(job.Id, [JobStatus.Running, JobStatus.Interrupted], JobStatus.Failed, _time.GetUtcNow(), reason, null, ct);
                _logger.LogError("Job {Id} failed after {Attempts} interrupted attempts", job.Id, job.Attempts);
                events.Publish(new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason });
            }
        }
        return stranded.Count;
    }
}
