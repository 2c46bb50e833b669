using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

public enum JobStatus
{
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    /// <summary>The app stopped while the job ran; the next start re-queues it once.</summary>
    Interrupted,
}

/// <summary>A generation job as stored in the queue table.</summary>
public sealed record GenerationJob
{
    public required long Id { get; init; }
    public required JobStatus Status { get; init; }
    public required GenerationRequest Request { get; init; }
    public string? Device { get; init; }

    /// <summary>The worker that runs it, or ran it last (its <see cref="WorkerProfile.Name"/>).</summary>
    public string? Worker { get; init; }

    /// <summary>How many times a worker has started the job.</summary>
    public int Attempts { get; init; }

    /// <summary>Why the job failed, in words a person can act on.</summary>
    public string? Error { get; init; }

    /// <summary>The history entry of the job's first image.</summary>
    public long? ImageId { get; init; }

    /// <summary>Every image the job has made so far, in order (a batch's images, one history entry each).</summary>
    public IReadOnlyList<long> ImageIds { get; init; } = [];

    /// <summary>What the engine changed or ignored while running the job, in sentences for the user.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>While it runs: the token of the run that holds it; every change the run makes to the job checks it.</summary>
    public string? Claim { get; init; }

    /// <summary>Someone asked to cancel it while it ran.</summary>
    public bool CancelRequested { get; init; }

    public bool IsFinished => Status is JobStatus.Done or JobStatus.Failed or JobStatus.Cancelled;
}

public enum QueueEventKind
{
    Queued,
    Started,
    Progress,
    /// <summary>One image of the job is saved in history (each image of a batch, as it is made).</summary>
    ImageSaved,
    Completed,
    Failed,
    Cancelled,
    Interrupted,
    Requeued,
}

/// <summary>
/// A change in the queue, pushed to subscribers: a job's new state, progress while it runs (the stage, step i of n of
/// image j of m with an optional preview PNG, or a model download's progress while loading), or an image it saved.
/// </summary>
public sealed record QueueEvent(QueueEventKind Kind, long JobId)
{
    /// <summary>With <see cref="QueueEventKind.Progress"/>: what the engine is doing.</summary>
    public GenerationStage? Stage { get; init; }

    /// <summary>While <see cref="GenerationStage.LoadingModel"/>: the download of a model that was not on disk yet.</summary>
    public DownloadProgress? Download { get; init; }

    public int? Step { get; init; }
    public int? TotalSteps { get; init; }
    public byte[]? PreviewPng { get; init; }

    /// <summary>With <see cref="QueueEventKind.ImageSaved"/>, the image saved; with <see cref="QueueEventKind.Completed"/>, the job's first.</summary>
    public long? ImageId { get; init; }

    /// <summary>The images the job has made so far (all of them once it has ended).</summary>
    public IReadOnlyList<long> ImageIds { get; init; } = [];

    /// <summary>Which image of the job's batch the event is about, from 1, and how many the batch makes.</summary>
    public int? Image { get; init; }
    public int? Images { get; init; }

    public string? Error { get; init; }

    /// <summary>With <see cref="QueueEventKind.Completed"/>: what the engine changed or ignored.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Whether the event ends the job's run: nothing more is announced for it until it is re-queued.</summary>
    public bool EndsRun => Kind is QueueEventKind.Completed or QueueEventKind.Failed or QueueEventKind.Cancelled or QueueEventKind.Interrupted;
}

/// <summary>The queue holds its maximum number of jobs.</summary>
public sealed class QueueFullException(int maxLength)
    : Exception($"The queue is full ({maxLength} jobs waiting or running). Wait for a job to finish or cancel one, then try again.")
{
    public int MaxLength { get; } = maxLength;
}

public sealed record CancelResult(bool Cancelled, string Message);
