using System.Globalization;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Web.Services;

/// <summary>The words and numbers the pages show for a job: its state, its stage, and times.</summary>
public static class JobText
{
    public static string Status(JobStatus status) => status switch
    {
        JobStatus.Queued => "Waiting",
        JobStatus.Running => "Running",
        JobStatus.Done => "Done",
        JobStatus.Failed => "Failed",
        JobStatus.Cancelled => "Cancelled",
        JobStatus.Interrupted => "Interrupted",
        _ => status.ToString(),
    };

    /// <summary>
    /// How many images a batch job makes or made, to follow its status: ", 4 images" while it waits or once done,
    /// ", 2 of 4 images" when it ended early; nothing for a single image.
    /// </summary>
    public static string Images(GenerationJob job)
    {
        var images = job.Request.ImageCount;
        if (images == 1)
            return "";
        return job.Status switch
        {
            JobStatus.Queued or JobStatus.Running => $", {images} images",
            JobStatus.Done => $", {job.ImageIds.Count} images",
            _ => $", {job.ImageIds.Count} of {images} images",
        };
    }

    /// <summary>
    /// What a running job is doing: "Loading the model", "Step 3 of 20", "Decoding the image"…, and in a batch which
    /// image: "Image 2 of 4: step 3 of 20".
    /// </summary>
    public static string Stage(JobProgress? progress)
    {
        if (progress is null)
            return "Starting";
        var stage = StageOfImage(progress);
        return progress.Images > 1 && progress.Stage is not GenerationStage.LoadingModel and not GenerationStage.EncodingPrompt
            ? $"Image {progress.Image} of {progress.Images}: {char.ToLowerInvariant(stage[0])}{stage[1..]}"
            : stage;
    }

    private static string StageOfImage(JobProgress progress) =>
        progress.Stage switch
        {
            GenerationStage.LoadingModel when progress.Download is { } d =>
                $"Downloading the model: file {d.FileNumber} of {d.FileCount}" +
                (d.BytesTotal is { } total and > 0 ? $", {Size(d.BytesDone)} of {Size(total)}" : ""),
            GenerationStage.LoadingModel => "Loading the model",
            GenerationStage.EncodingPrompt => "Encoding the prompt",
            GenerationStage.Denoising when progress.Step == progress.FirstStep => progress.FirstStep == 0
                ? $"Denoising, {progress.TotalSteps} steps"
                : $"Denoising from step {progress.FirstStep} of {progress.TotalSteps}",
            GenerationStage.Denoising => $"Step {progress.Step} of {progress.TotalSteps}",
            GenerationStage.Decoding => "Decoding the image",
            _ => "Finishing",
        };

    /// <summary>0–100 for a progress bar; null when the stage has no measure (the bar then runs indeterminate).</summary>
    public static double? Percent(JobProgress? progress) => progress switch
    {
        { Stage: GenerationStage.LoadingModel, Download: { BytesTotal: > 0 } d } => 100.0 * d.BytesDone / d.BytesTotal.Value,
        { Stage: GenerationStage.Denoising or GenerationStage.Decoding, TotalSteps: > 0 } p => 100.0 * p.Step / p.TotalSteps,
        _ => null,
    };

    /// <summary>"0:07", "2:15", "1:02:03".</summary>
    public static string Duration(TimeSpan time)
    {
        var seconds = (long)Math.Round(Math.Max(0, time.TotalSeconds));
        var span = TimeSpan.FromSeconds(seconds);
        return span.TotalHours >= 1
            ? span.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)
            : span.ToString(@"m\:ss", CultureInfo.InvariantCulture);
    }

    private static string Size(long bytes) => bytes >= 1L << 30
        ? $"{bytes / (double)(1L << 30):0.0} GB"
        : $"{bytes / (double)(1L << 20):0} MB";
}
