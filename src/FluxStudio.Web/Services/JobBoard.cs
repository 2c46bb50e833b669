using FluxStudio.App.Generation;

namespace FluxStudio.Web.Services;

/// <summary>
/// The queue panel's view of the recent jobs — waiting, running (stage, step, elapsed time, time left), done, failed —
/// read from the job table, so it is the same after a reload or a restart, and kept current from the queue's events.
/// While a job runs it ticks every second, for the clocks. One per page (scoped to the circuit).
/// </summary>
public sealed class JobBoard : IAsyncDisposable
{
    public const int Shown = 20;

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private readonly GenerationQueue _queue;
    private readonly GenerationEvents _events;
    private readonly GenerationProgressTracker _tracker;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _reload = new(1, 1);
    private IReadOnlyList<GenerationJob> _jobs = [];
    private ITimer? _ticker;
    private bool _started;

    public JobBoard(GenerationQueue queue, GenerationEvents events, GenerationProgressTracker tracker, TimeProvider time)
    {
        (_queue, _events, _tracker, _time) = (queue, events, tracker, time);
    }

    /// <summary>Raised after the jobs or their progress changed, on the thread that changed them.</summary>
    public event Func<Task>? Changed;

    /// <summary>The recent jobs, newest first, with their live progress.</summary>
    public IReadOnlyList<JobView> Jobs
    {
        get
        {
            var now = _time.GetUtcNow();
            return _jobs.Select(job => new JobView(job, job.Status == JobStatus.Running ? _tracker.Get(job.Id) : null, now)).ToList();
        }
    }

    public JobView? Find(long id) => Jobs.FirstOrDefault(j => j.Job.Id == id);

    /// <summary>Reads the jobs and follows the queue from now on; later calls do nothing.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (_started)
            return;
        _started = true;
        _events.Changed += OnQueueChanged;
        await ReloadAsync(ct);
    }

    public Task<CancelResult> CancelAsync(long id, CancellationToken ct) => _queue.CancelAsync(id, ct);

    private void OnQueueChanged(object? sender, QueueEvent e)
    {
        // Steps change only the progress, which the tracker holds; every other event changes a job's row.
        _ = e.Kind == QueueEventKind.Progress ? NotifyAsync() : ReloadAndNotifyAsync();
    }

    private async Task ReloadAndNotifyAsync()
    {
        try
        {
            await ReloadAsync(_stop.Token);
            await NotifyAsync();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task ReloadAsync(CancellationToken ct)
    {
        await _reload.WaitAsync(ct);
        try
        {
            _jobs = await _queue.ListRecentAsync(Shown, ct);
            var running = _jobs.Any(j => j.Status is JobStatus.Running or JobStatus.Queued);
            if (running && _ticker is null)
                _ticker = _time.CreateTimer(_ => _ = NotifyAsync(), null, Tick, Tick);
            else if (!running && _ticker is not null)
            {
                await _ticker.DisposeAsync();
                _ticker = null;
            }
        }
        finally
        {
            _reload.Release();
        }
    }

    private async Task NotifyAsync()
    {
        if (Changed is { } changed && !_stop.IsCancellationRequested)
            await changed();
    }

    public async ValueTask DisposeAsync()
    {
        _events.Changed -= OnQueueChanged;
        await _stop.CancelAsync();
        if (_ticker is not null)
            await _ticker.DisposeAsync();
        _stop.Dispose();
    }
}

/// <summary>One job as the queue panel shows it.</summary>
public sealed record JobView(GenerationJob Job, JobProgress? Progress, DateTimeOffset Now)
{
    public long Id => Job.Id;

    /// <summary>How long it has run, or ran; null before it started.</summary>
    public TimeSpan? Elapsed => Job.StartedAt is { } started ? (Job.FinishedAt ?? Now) - started : null;

    public TimeSpan? Remaining => Progress?.Remaining(Now);
}
