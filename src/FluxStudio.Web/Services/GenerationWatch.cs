using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Web.Services;

/// <summary>
/// The Generate tab's job, followed from submission to its end: the state, step i of n of image j of m and preview
/// while it runs, its place in the queue, then its images (each of a batch as soon as it is saved, with its edge map when
/// a ControlNet guided it), the failure or the warnings. It follows the queue's events, and reads the job once after
/// submitting because a short job can end before its id is known here. One per page (scoped to the circuit); the page
/// renders it and re-renders when <see cref="Changed"/> fires.
/// </summary>
public sealed class GenerationWatch : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string> NoErrors = new Dictionary<string, string>();

    private readonly GenerationSubmitter _submitter;
    private readonly GenerationQueue _queue;
    private readonly GenerationEvents _events;
    private readonly GenerationProgressTracker _tracker;
    private readonly HistoryStore _history;
    private readonly Lock _gate = new();

    public GenerationWatch(GenerationSubmitter submitter, GenerationQueue queue, GenerationEvents events, GenerationProgressTracker tracker,
        HistoryStore history)
    {
        _submitter = submitter;
        _queue = queue;
        _events = events;
        _tracker = tracker;
        _history = history;
        _events.Changed += OnQueueChanged;
    }

    /// <summary>Raised after the state changed, on the thread that changed it; the page re-renders on its own dispatcher.</summary>
    public event Func<Task>? Changed;

    /// <summary>Field → message for the form, from the last submission.</summary>
    public IReadOnlyDictionary<string, string> Errors { get; private set; } = NoErrors;

    /// <summary>Why the queue or the cancel button refused, in a sentence.</summary>
    public string? Refusal { get; private set; }

    public bool Submitting { get; private set; }

    public long? JobId { get; private set; }

    /// <summary>Whether the job may still produce events: it waits or runs.</summary>
    public bool Running { get; private set; }

    public string State { get; private set; } = "";

    /// <summary>What the engine is doing while the job runs; null before its first progress report.</summary>
    public GenerationStage? Stage { get; private set; }

    public int Step { get; private set; }

    public int TotalSteps { get; private set; } = 1;

    /// <summary>Which image of the batch is being made, from 1.</summary>
    public int Image { get; private set; } = 1;

    /// <summary>How many images the job makes (its batch count).</summary>
    public int Images { get; private set; } = 1;

    public int? QueuePosition { get; private set; }

    /// <summary>The latest step's preview as a data URL, ready for an <c>img</c>.</summary>
    public string? Preview { get; private set; }

    public string? Failure { get; private set; }

    /// <summary>The latest image the job saved.</summary>
    public long? ResultImageId { get; private set; }

    /// <summary>Every image the job saved so far, in order, with what the page shows of each.</summary>
    public IReadOnlyList<GeneratedResult> Results { get; private set; } = [];

    /// <summary>What the engine changed or ignored (a release other than the one chosen, ignored guidance, …).</summary>
    public IReadOnlyList<string> Warnings { get; private set; } = [];

    public async Task SubmitAsync(GenerationRequest request, CancellationToken ct)
    {
        Submitting = true;
        Refusal = null;
        try
        {
            var result = await _submitter.SubmitAsync(request, null, ct);
            Errors = result.Errors;
            Refusal = result.Refusal;
            if (result.Job is { } job)
                await FollowAsync(job, ct);
        }
        finally
        {
            Submitting = false;
        }
    }

    /// <summary>
    /// Follows a job queued earlier, such as the one this browser queued before the page was reloaded: its state as
    /// stored, then its events. Nothing happens when there is no such job.
    /// </summary>
    public async Task AttachAsync(long jobId, CancellationToken ct)
    {
        if (await _queue.GetAsync(jobId, ct) is { } job)
            await FollowAsync(job, ct);
    }

    private async Task FollowAsync(GenerationJob job, CancellationToken ct)
    {
        lock (_gate)
        {
            (JobId, Running, State, Stage, Step, TotalSteps) = (job.Id, true, "queued", null, 0, job.Request.ExpectedSteps);
            (Image, Images, Preview, Failure, ResultImageId, Results, Warnings) = (1, job.Request.ImageCount, null, null, null, [], []);
        }
        await CatchUpAsync(job.Id, ct);
        await UpdateQueuePositionAsync(ct);
    }

    public async Task CancelAsync(CancellationToken ct)
    {
        if (JobId is not { } id || !Running)
            return;
        var result = await _queue.CancelAsync(id, ct);
        if (!result.Cancelled)
            Refusal = result.Message;
    }

    public void ClearErrors() => Errors = NoErrors;

    public void Dispose() => _events.Changed -= OnQueueChanged;

    // A short job can finish, or reach its first steps, before its id is known here; its events then passed unseen, so
    // read its state once.
    private async Task CatchUpAsync(long id, CancellationToken ct)
    {
        var job = await _queue.GetAsync(id, ct);
        switch (job?.Status)
        {
            case JobStatus.Running:
                Apply(new QueueEvent(QueueEventKind.Started, id));
                // Its progress so far, which a page reloaded mid-run (or a submission slower than the job's first
                // step) did not see as events.
                if (_tracker.Get(id) is { } progress)
                    Apply(new QueueEvent(QueueEventKind.Progress, id)
                    {
                        Stage = progress.Stage,
                        Step = progress.Step,
                        TotalSteps = progress.TotalSteps > 0 ? progress.TotalSteps : null,
                        PreviewPng = progress.PreviewPng,
                        Image = progress.Image,
                    });
                break;
            case JobStatus.Done:
                Apply(new QueueEvent(QueueEventKind.Completed, id) { Warnings = job.Warnings });
                break;
            case JobStatus.Failed:
                Apply(new QueueEvent(QueueEventKind.Failed, id) { Error = job.Error });
                break;
            case JobStatus.Cancelled:
                Apply(new QueueEvent(QueueEventKind.Cancelled, id));
                break;
        }
        await LoadResultsAsync(job?.ImageIds ?? [], ct);
    }
    /// <summary>Reads from history the images not shown yet (in the order the job made them).</summary>
    private async Task LoadResultsAsync(IReadOnlyList<long> imageIds, CancellationToken ct)
    {
        var shown = Results;
        var added = new List<GeneratedResult>();
        foreach (var id in imageIds.Where(id => shown.All(result => result.Id != id)))
        {
            if (await _history.GetAsync(id, ct) is { } entry)
                added.Add(GeneratedResult.From(entry));
        }
        if (added.Count == 0)
            return;
        lock (_gate)
        {
            Results = [.. Results, .. added.Where(result => Results.All(r => r.Id != result.Id))];
            ResultImageId = Results[^1].Id;
        }
    }


    private async Task UpdateQueuePositionAsync(CancellationToken ct)
    {
        if (JobId is { } id)
            QueuePosition = await _queue.GetPositionAsync(id, ct);
    }

    private void OnQueueChanged(object? sender, QueueEvent e)
    {
        if (JobId is not { } id || !Running)
            return;
        _ = FollowAsync(e, id);
    }

    private async Task FollowAsync(QueueEvent e, long id)
    {
        if (e.JobId == id)
        {
            Apply(e);
            await LoadResultsAsync(e.ImageIds, CancellationToken.None);
        }
        // Another job starting or ending moves this one up the queue.
        if (e.Kind != QueueEventKind.Progress)
            await UpdateQueuePositionAsync(CancellationToken.None);
        if (Changed is { } changed)
            await changed();
    }

    private void Apply(QueueEvent e)
    {
        lock (_gate)
        {
            if (e.JobId != JobId)
                return;
            switch (e.Kind)
            {
                case QueueEventKind.Started:
                    State = "running";
                    break;
                case QueueEventKind.Progress:
                    State = "running";
                    Stage = e.Stage ?? Stage;
                    Step = e.Step ?? Step;
                    TotalSteps = e.TotalSteps ?? TotalSteps;
                    (Image, Images) = (e.Image ?? Image, e.Images ?? Images);
                    if (e.PreviewPng is { } png)
                        Preview = "data:image/png;base64," + Convert.ToBase64String(png);
                    break;
                case QueueEventKind.ImageSaved:
                    // The saved image takes the place of its steps' preview until the next image's first step.
                    (Image, Preview) = (Math.Min((e.Image ?? Image) + 1, Images), null);
                    break;
                case QueueEventKind.Completed:
                    (State, Step, Image, Warnings, Running) = ("done", TotalSteps, Images, e.Warnings, false);
                    break;
                case QueueEventKind.Failed:
                    (State, Failure, Running) = ("failed", e.Error, false);
                    break;
                case QueueEventKind.Cancelled:
                    (State, Failure, Running) = ("cancelled", "The generation was cancelled.", false);
                    break;
                case QueueEventKind.Interrupted:
                    State = "interrupted; it runs again when the app starts";
                    break;
            }
        }
    }
}

/// <summary>An image a job saved, as the Generate tab shows it: the PNG, and the edge map the ControlNet was given, if any.</summary>
public sealed record GeneratedResult(long Id, long Seed, string ImageUrl, string? ControlNetCannyUrl, string? BatchId)
{
    public static GeneratedResult From(HistoryEntry entry) => new(entry.Id, entry.Seed, $"/api/images/{entry.Id}",
        entry.ControlNetCannyPath is null ? null : $"/api/images/{entry.Id}/controlnet-canny", entry.BatchId);
}
