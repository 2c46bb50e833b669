using System.Collections.Concurrent;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Web.Services;

/// <summary>
/// Remembers what each running job is doing — its stage, step i of n, latest preview, and when its denoising started
/// and last stepped — which the queue only announces as events, so that <c>GET /api/generations/{id}</c> and a page
/// opened mid-run can show it, with an elapsed time and an estimate of the time left.
/// </summary>
public sealed class GenerationProgressTracker : IHostedService
{
    private readonly GenerationEvents _events;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<long, JobProgress> _progress = new();

    public GenerationProgressTracker(GenerationEvents events, TimeProvider time)
    {
        _events = events;
        _time = time;
    }

    public JobProgress? Get(long jobId) => _progress.GetValueOrDefault(jobId);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _events.Changed += OnChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _events.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    private void OnChanged(object? sender, QueueEvent e)
    {
        if (e is { Kind: QueueEventKind.Progress, Stage: { } stage })
            _progress.AddOrUpdate(e.JobId, _ => Next(null, e, stage), (_, previous) => Next(previous, e, stage));
        else if (e.EndsRun || e.Kind == QueueEventKind.Requeued)
            _progress.TryRemove(e.JobId, out _);
    }

    private JobProgress Next(JobProgress? previous, QueueEvent e, GenerationStage stage)
    {
        var now = _time.GetUtcNow();
        var denoisingStep = stage == GenerationStage.Denoising ? e.Step : null;
        // The first denoising report of an image is its start (step 0, or the step image to image skips to); the time
        // per step is measured from there.
        var image = e.Image ?? previous?.Image ?? 1;
        var starts = denoisingStep is not null && (previous is not { Stage: GenerationStage.Denoising } || previous.Image != image);
        return new JobProgress(
            stage,
            e.Step ?? previous?.Step ?? 0,
            e.TotalSteps ?? previous?.TotalSteps ?? 0,
            e.PreviewPng ?? previous?.PreviewPng,
            stage == GenerationStage.LoadingModel ? e.Download : null)
        {
            Image = image,
            Images = e.Images ?? previous?.Images ?? 1,
            DenoisingSince = starts ? now : previous?.DenoisingSince,
            FirstStep = starts ? denoisingStep!.Value : previous?.FirstStep ?? 0,
            LastStepAt = starts ? null : denoisingStep is not null ? now : previous?.LastStepAt,
        };
    }
}

/// <summary>What a running job is doing, as its last progress event said.</summary>
/// <param name="Stage">What the engine is doing.</param>
/// <param name="Step">The denoising step done (0 before the first one).</param>
/// <param name="TotalSteps">The denoising steps in all; 0 while the model loads.</param>
/// <param name="PreviewPng">The latest step's preview.</param>
/// <param name="Download">A model download's progress while <see cref="GenerationStage.LoadingModel"/>.</param>
public sealed record JobProgress(GenerationStage Stage, int Step, int TotalSteps, byte[]? PreviewPng, DownloadProgress? Download = null)
{
    /// <summary>Which image of the job's batch is being made, from 1, and how many the batch makes.</summary>
    public int Image { get; init; } = 1;
    public int Images { get; init; } = 1;

    public DateTimeOffset? DenoisingSince { get; init; }

    /// <summary>The step this image's denoising started from: 0, or the step image to image skips to.</summary>
    public int FirstStep { get; init; }

    public DateTimeOffset? LastStepAt { get; init; }

    /// <summary>
    /// The time the remaining denoising steps should take at the pace of the steps so far, this image's and those of the
    /// batch's images still to make; null until one step has run. Decoding is left out: it takes about one step.
    /// </summary>
    public TimeSpan? Remaining(DateTimeOffset now)
    {
        if (Stage != GenerationStage.Denoising || Step <= FirstStep || DenoisingSince is not { } since || LastStepAt is not { } last)
            return null;
        var perStep = (last - since) / (Step - FirstStep);
        var left = perStep * (TotalSteps - Step + (Images - Image) * (TotalSteps - FirstStep)) - (now - last);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }
}
