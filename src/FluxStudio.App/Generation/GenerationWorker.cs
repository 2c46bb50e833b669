using FluxStudio.App.Data;
using FluxStudio.Engine;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// Runs the queue's jobs: <see cref="RunWorkerAsync"/> is one device's loop, <see cref="RunNextAsync"/> claims the oldest
/// queued job and runs it through <see cref="ImageGenerationService"/> to its end (done, failed, cancelled, or
/// interrupted when the app stops), which is what tests call. Jobs are claimed in the store, so workers on several
/// devices, or in several processes, never run the same one.
/// </summary>
public sealed class GenerationWorker
{
    private readonly JobStore _jobs;
    private readonly GenerationEvents _events;
    private readonly RunningJobs _running;
    private readonly ImageGenerationService _generation;
    private readonly QueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GenerationWorker> _logger;
    private readonly IMemoryRemedyWording _memoryWording;
    private TaskCompletionSource _workArrived = NewSignal();

    /// <param name="memoryWording">How the surface that shows the jobs words memory advice (plain words by default).</param>
    public GenerationWorker(JobStore jobs, GenerationEvents events, RunningJobs running, ImageGenerationService generation,
        IOptions<StudioOptions> options, TimeProvider? time = null, ILogger<GenerationWorker>? logger = null,
        IMemoryRemedyWording? memoryWording = null)
    {
        (_jobs, _events, _running, _generation) = (jobs, events, running, generation);
        _memoryWording = memoryWording ?? PlainMemoryRemedyWording.Instance;
        _options = options.Value.Queue;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<GenerationWorker>.Instance;
        // A job queued in this process wakes the workers at once; polling finds those queued elsewhere.
        _events.Changed += (_, e) =>
        {
            if (e.Kind is QueueEventKind.Queued or QueueEventKind.Requeued)
                Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();
        };
    }

    /// <summary>Runs jobs on <paramref name="device"/> until <paramref name="ct"/> is cancelled (the app stopping).</summary>
    public async Task RunWorkerAsync(string device, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            // Take the signal before looking, so a job queued while we look still wakes us.
            var signal = _workArrived.Task;
            try
            {
                if (await RunNextAsync(device, ct))
                    continue;
                // Polling also picks up jobs queued by another process.
                await signal.WaitAsync(_options.PollInterval, _time, ct);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not SimulatedCrashException)
            {
                // The database being unreachable for a moment must not stop the worker for good.
                _logger.LogError(ex, "The {Device} worker could not read the queue; retrying", device);
                try
                {
                    await Task.Delay(_options.PollInterval, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Runs the oldest queued job on <paramref name="device"/>, if there is one, to its end: done, failed,
    /// cancelled, or interrupted when <paramref name="ct"/> (the app stopping) fires. Returns false when no job
    /// was waiting.
    /// </summary>
    public async Task<bool> RunNextAsync(string device, CancellationToken ct)
    {
        var job = await _jobs.ClaimNextAsync(device, _time.GetUtcNow(), ct);
        if (job is null)
            return false;

        using var run = _running.Register(job.Id, ct);
        // An earlier attempt may have made some of the batch's images already; only the rest is made now.
        var made = job.ImageIds.Count;
        var images = job.Request.ImageCount;
        var imageIds = job.ImageIds.ToList();
        try
        {
            _logger.LogInformation("Job {Id} started on {Device} (attempt {Attempt})", job.Id, device, job.Attempts);
            _events.Publish(new QueueEvent(QueueEventKind.Started, job.Id));
            var progress = new SynchronousProgress<GenerationProgress>(p =>
            {
                // "Done" is announced as ImageSaved and Completed, once the image is saved. While the model loads, the
                // step counts are the download's files, so they are not passed on as steps.
                if (p.Stage == GenerationStage.Done)
                    return;
                var loading = p.Stage == GenerationStage.LoadingModel;
                _events.Publish(new QueueEvent(QueueEventKind.Progress, job.Id)
                {
                    Stage = p.Stage,
                    Download = p.Download,
                    Step = loading ? null : p.Step,
                    TotalSteps = loading ? null : p.TotalSteps,
                    PreviewPng = p.PreviewPng,
                    Image = made + p.Image,
                    Images = images,
                });
            });
            var output = new GenerationOutput { Device = device, BatchId = images > 1 ? BatchIdOf(job) : null };
            var warnings = new List<string>();
            var rest = made < images
                ? _generation.GenerateAsync(job.Request.Remaining(made), output, progress, run.Token)
                : AsyncEnumerable.Empty<GenerationOutcome>();
            await foreach (var outcome in rest)
            {
                imageIds.Add(outcome.Record.Id);
                await _jobs.AddImageAsync(job.Id, outcome.Record.Id, CancellationToken.None);
                warnings.AddRange(outcome.Warnings.Except(warnings));
                _logger.LogInformation("Job {Id}: image {Image} of {Images} saved as {Path}", job.Id, made + outcome.Image, images,
                    outcome.Record.ImagePath);
                _events.Publish(new QueueEvent(QueueEventKind.ImageSaved, job.Id)
                {
                    ImageId = outcome.Record.Id, ImageIds = imageIds.ToList(), Image = made + outcome.Image, Images = images,
                });
            }
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Done, _time.GetUtcNow(), null, null, CancellationToken.None,
                warnings);
            foreach (var warning in warnings)
                _logger.LogWarning("Job {Id}: {Warning}", job.Id, warning);
            _logger.LogInformation("Job {Id} done: {Count} image(s)", job.Id, imageIds.Count);
            _events.Publish(new QueueEvent(QueueEventKind.Completed, job.Id)
            {
                ImageId = imageIds.Count > 0 ? imageIds[0] : null, ImageIds = imageIds, Warnings = warnings, Image = images, Images = images,
            });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !_running.IsCancelRequested(job.Id))
        {
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Interrupted, null,
                "The app stopped while this job ran; it runs again at the next start.", null, CancellationToken.None);
            _logger.LogWarning("Job {Id} interrupted by shutdown", job.Id);
            _events.Publish(new QueueEvent(QueueEventKind.Interrupted, job.Id));
        }
        catch (OperationCanceledException) when (run.IsCancelled)
        {
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Cancelled, _time.GetUtcNow(), null, null, CancellationToken.None);
            _logger.LogInformation("Job {Id} cancelled", job.Id);
            _events.Publish(new QueueEvent(QueueEventKind.Cancelled, job.Id) { ImageIds = imageIds });
        }
        catch (Exception ex) when (ex is not SimulatedCrashException)
        {
            var reason = Describe(ex, job.Request);
            _logger.LogError(ex, "Job {Id} failed", job.Id);
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Failed, _time.GetUtcNow(), reason, null, CancellationToken.None);
            _events.Publish(new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason, ImageIds = imageIds });
        }
        return true;
    }

    /// <summary>The batch id of a job's images: the same on every attempt, so a re-run continues the batch.</summary>
    public static string BatchIdOf(GenerationJob job) => $"job-{job.Id}";

    /// <summary>The job's failure in one sentence; memory advice in the terms of the surface that shows it.</summary>
    private string Describe(Exception ex, GenerationRequest request) => ex switch
    {
        EngineMemoryException memory => memory.Describe(_memoryWording),
        _ when EngineMemoryException.IsAllocationFailure(ex) =>
            MemoryShortfall.Unplanned(request.Width, request.Height, "generating", _generation.SizeMultiple(request)).Describe(_memoryWording),
        _ => ex.Message,
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
