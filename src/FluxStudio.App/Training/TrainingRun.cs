using System.Text.Json.Serialization;

namespace FluxStudio.App.Training;

[JsonConverter(typeof(JsonStringEnumConverter<TrainingRunStatus>))]
public enum TrainingRunStatus
{
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// <summary>
/// A training run of the studio as it is stored (a row of <c>training_runs</c>; before, <c>run.json</c> in its folder):
/// what it is doing, how far it got, the checkpoint its next attempt continues from, and which worker holds it. Its
/// folder holds the configuration (<c>train.json</c>), the images and the outputs (<c>out/</c>).
/// </summary>
public sealed record TrainingRun
{
    public required string Id { get; init; }

    public TrainingRunStatus Status { get; init; } = TrainingRunStatus.Queued;

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Steps made, as of the last checkpoint or the end.</summary>
    public int Step { get; init; }

    public int TotalSteps { get; init; }

    public double? LastLoss { get; init; }

    /// <summary>Why the run failed, in a sentence a person can act on.</summary>
    public string? Error { get; init; }

    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The checkpoint zip the next attempt continues from; null starts from nothing.</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>The model folder trained on instead of the published model.</summary>
    public string? ModelPath { get; init; }

    /// <summary>How often the run was started (a restart or a resume adds one).</summary>
    public int Attempts { get; init; }

    /// <summary>The trained LoRA's file name in the LoRA folder, once done.</summary>
    public string? LoraName { get; init; }

    public string? ActivationKeyword { get; init; }

    /// <summary>How often a worker died (or lost the database) while it ran the run, since it was queued or resumed.</summary>
    public int Crashes { get; init; }

    /// <summary>The worker that runs (or last ran) it, and its device.</summary>
    public string? Worker { get; init; }

    public string? Device { get; init; }

    /// <summary>The token of the worker's claim while it runs; null when no worker holds it.</summary>
    [JsonIgnore]
    public string? Claim { get; init; }

    /// <summary>Someone asked the running run to stop; its worker reads it when it renews its lease.</summary>
    [JsonIgnore]
    public bool CancelRequested { get; init; }

    [JsonIgnore]
    public bool IsFinished => Status is TrainingRunStatus.Done or TrainingRunStatus.Failed or TrainingRunStatus.Cancelled;
}
