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
/// A training run of the studio as it is stored (<c>run.json</c> in its folder): what it is doing, how far it got, and
/// the checkpoint its next attempt continues from. Its folder holds the configuration (<c>train.json</c>), the images
/// and the outputs (<c>out/</c>).
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

    [JsonIgnore]
    public bool IsFinished => Status is TrainingRunStatus.Done or TrainingRunStatus.Failed or TrainingRunStatus.Cancelled;
}
