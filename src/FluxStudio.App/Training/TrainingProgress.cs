using FluxStudio.Engine.Models;

namespace FluxStudio.App.Training;

/// <summary>What a training run is doing.</summary>
public enum TrainingStage
{
    /// <summary>Finding (and maybe downloading) the model and loading it.</summary>
    LoadingModel,

    /// <summary>Encoding the training images and their descriptions, <see cref="TrainingProgress.Step"/> of <see cref="TrainingProgress.TotalSteps"/>.</summary>
    EncodingImages,

    /// <summary>Training step <see cref="TrainingProgress.Step"/> of <see cref="TrainingProgress.TotalSteps"/> is done.</summary>
    Training,

    /// <summary>Rendering a validation image with the LoRA as trained so far.</summary>
    ValidationImage,

    /// <summary>Saving the final checkpoint, plot and LoRA.</summary>
    Saving,
}

/// <summary>
/// A training run's progress: its stage and step, the loss of the step just made and the time left (estimated from the
/// steps of this run), and what it has just written.
/// </summary>
public sealed record TrainingProgress(TrainingStage Stage, int Step, int TotalSteps)
{
    public double? Loss { get; init; }

    public TimeSpan? Remaining { get; init; }

    /// <summary>When training starts: the losses of the steps made before the checkpoint it continues from, else empty.</summary>
    public IReadOnlyList<LossPoint>? EarlierLosses { get; init; }

    /// <summary>A file just written: a checkpoint zip, a validation image or the loss plot's PNG.</summary>
    public string? WrittenFile { get; init; }

    public TrainingArtifact? WrittenKind { get; init; }

    /// <summary>While <see cref="TrainingStage.LoadingModel"/>: the download of a model that was not on disk yet.</summary>
    public DownloadProgress? Download { get; init; }
}

public enum TrainingArtifact
{
    Checkpoint,
    ValidationImage,
    LossPlot,
    Lora,
}
