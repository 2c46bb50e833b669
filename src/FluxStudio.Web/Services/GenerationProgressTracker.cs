using System.Collections.Concurrent;
using FluxStudio.App.Generation;

namespace FluxStudio.Web.Services;

/// <summary>
/// Remembers the latest step and preview of each running job, which the queue only announces as events, so
/// that <c>GET /api/generations/{id}</c> and a page opened mid-run can show them.
/// </summary>
public sealed class GenerationProgressTracker : IHostedService
{
    private readonly GenerationEvents _events;
    private readonly ConcurrentDictionary<long, JobProgress> _progress = new();

    public GenerationProgressTracker(GenerationEvents events)
    {
        _events = events;
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
        if (e is { Kind: QueueEventKind.Progress, Step: { } step, TotalSteps: { } total })
            _progress[e.JobId] = new JobProgress(step, total, e.PreviewPng ?? _progress.GetValueOrDefault(e.JobId)?.PreviewPng)
            {
                Image = e.Image ?? 1,
            };
        else if (e.EndsRun || e.Kind == QueueEventKind.Requeued)
            _progress.TryRemove(e.JobId, out _);
    }
}

/// <param name="Step">Step of the image being made (<see cref="Image"/> of the job's batch, from 1).</param>
public sealed record JobProgress(int Step, int TotalSteps, byte[]? PreviewPng)
{
    public int Image { get; init; } = 1;
}
