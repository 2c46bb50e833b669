using FluxStudio.Engine;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Generation;

/// <summary>
/// The generation queue. Jobs live in the database (so none is lost when the app stops), run first in
/// first out, one at a time per device, and report their progress to subscribers.
/// <see cref="RunNextAsync"/> runs exactly one job, which is what tests call; <see cref="RunWorkerAsync"/>
/// loops over it for the hosted <see cref="GenerationWorkerService"/>.
/// </summary>
public sealed class GenerationQueue
{
    private readonly JobStore _jobs;
    private readonly OutputStore _outputs;
    private readonly LoraCatalog _loras;
    private readonly GenerationRequestValidator _validator;
    private readonly IServiceProvider _services;
    private readonly QueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GenerationQueue> _logger;

    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<long, bool> _cancelRequested = new();
    private readonly Lock _subscribersGate = new();
    private readonly List<Channel<QueueEvent>> _subscribers = [];
    private TaskCompletionSource _workArrived = NewSignal();

    public GenerationQueue(StudioDatabase database, OutputStore outputs, LoraCatalog loras, GenerationRequestValidator validator,
        IServiceProvider services, IOptions<StudioOptions> options, TimeProvider? time = null, ILogger<GenerationQueue>? logger = null)
    {
        _jobs = new JobStore(database);
        _outputs = outputs;
        _loras = loras;
        _validator = validator;
        _services = services;
        _options = options.Value.Queue;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<GenerationQueue>.Instance;
    }

    /// <summary>Raised for every queue event, on the thread that caused it.</summary>
    public event EventHandler<QueueEvent>? Changed;

    public int MaxLength => _options.MaxLength;

    /// <summary>
    /// Validates and stores the request as a queued job. Throws <see cref="RequestValidationException"/> for
    /// invalid settings and <see cref="QueueFullException"/> when <see cref="MaxLength"/> jobs are waiting.
    /// </summary>
    public async Task<GenerationJob> EnqueueAsync(GenerationRequest request, CancellationToken ct)
    {
        _validator.EnsureValid(request);
        var job = await _jobs.AddAsync(request, _options.MaxLength, _time.GetUtcNow(), ct)
                  ?? throw new QueueFullException(_options.MaxLength);
        _logger.LogInformation("Job {Id} queued", job.Id);
        Publish(new QueueEvent(QueueEventKind.Queued, job.Id));
        SignalWork();
        return job;
    }

    public Task<GenerationJob?> GetAsync(long id, CancellationToken ct) => _jobs.GetAsync(id, ct);

    /// <summary>Jobs waiting or running, in the order they run.</summary>
    public Task<IReadOnlyList<GenerationJob>> ListActiveAsync(CancellationToken ct) =>
        _jobs.ListAsync([JobStatus.Running, JobStatus.Queued], int.MaxValue, newestFirst: false, ct);

    /// <summary>How many jobs are ahead of a queued or running one (0: it runs or is next); null when it is neither.</summary>
    public async Task<int?> GetPositionAsync(long id, CancellationToken ct)
    {
        var active = await ListActiveAsync(ct);
        var index = active.ToList().FindIndex(j => j.Id == id);
        return index >= 0 ? index : null;
    }

    /// <summary>The most recent jobs of any state, newest first.</summary>
    public Task<IReadOnlyList<GenerationJob>> ListRecentAsync(int limit, CancellationToken ct) =>
        _jobs.ListAsync(Enum.GetValues<JobStatus>(), limit, newestFirst: true, ct);

    /// <summary>Cancels a queued job at once, or asks a running one to stop at its next step.</summary>
    public async Task<CancelResult> CancelAsync(long id, CancellationToken ct)
    {
        if (await _jobs.TransitionAsync(id, [JobStatus.Queued], JobStatus.Cancelled, _time.GetUtcNow(), null, null, ct))
        {
            Publish(new QueueEvent(QueueEventKind.Cancelled, id));
            return new CancelResult(true, $"Job {id} was cancelled before it started.");
        }

        var job = await _jobs.GetAsync(id, ct);
        switch (job?.Status)
        {
            case null:
                return new CancelResult(false, $"There is no job {id}.");
            case JobStatus.Running:
                // The worker may have claimed the job but not registered it yet; it checks this flag then.
                _cancelRequested[id] = true;
                if (_running.TryGetValue(id, out var source))
                    await source.CancelAsync();
                return new CancelResult(true, $"Job {id} is stopping.");
            default:
                return new CancelResult(false, $"Job {id} has already finished ({job.Status.ToString().ToLowerInvariant()}).");
        }
    }

    /// <summary>
    /// Start-up recovery: a job left running or interrupted by the last run is queued again once; after
    /// <see cref="QueueOptions.MaxAttempts"/> starts it is marked failed with the reason. Call before the
    /// workers start.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        var stranded = await _jobs.ListAsync([JobStatus.Running, JobStatus.Interrupted], int.MaxValue, newestFirst: false, ct);
        foreach (var job in stranded)
        {
            if (job.Attempts < _options.MaxAttempts)
            {
                await _jobs.TransitionAsync(job.Id, [JobStatus.Running, JobStatus.Interrupted], JobStatus.Queued, null, null, null, ct);
                _logger.LogWarning("Job {Id} was interrupted by a stop or crash; queued again", job.Id);
                Publish(new QueueEvent(QueueEventKind.Requeued, job.Id));
            }
            else
            {
                var reason = $"The app stopped or crashed while this job ran, {job.Attempts} times; it was not started again. " +
                             "If a crash is the cause, try fewer steps, a smaller size or quantization, then queue it again.";
                await _jobs.TransitionAsync(job.Id, [JobStatus.Running, JobStatus.Interrupted], JobStatus.Failed, _time.GetUtcNow(), reason, null, ct);
                _logger.LogError("Job {Id} failed after {Attempts} interrupted attempts", job.Id, job.Attempts);
                Publish(new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason });
            }
        }
        if (stranded.Count > 0)
            SignalWork();
        return stranded.Count;
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
                // Polling also picks up jobs queued by another process, such as the CLI.
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

        using var jobCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _running[job.Id] = jobCancel;
        try
        {
            if (_cancelRequested.ContainsKey(job.Id))
                await jobCancel.CancelAsync();
            _logger.LogInformation("Job {Id} started on {Device} (attempt {Attempt})", job.Id, device, job.Attempts);
            Publish(new QueueEvent(QueueEventKind.Started, job.Id));
            var entry = await GenerateAndSaveAsync(job, device, jobCancel.Token);
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Done, _time.GetUtcNow(), null, entry.Id, CancellationToken.None);
            _logger.LogInformation("Job {Id} done: {Path}", job.Id, entry.ImagePath);
            Publish(new QueueEvent(QueueEventKind.Completed, job.Id) { ImageId = entry.Id });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !_cancelRequested.ContainsKey(job.Id))
        {
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Interrupted, null,
                "The app stopped while this job ran; it runs again at the next start.", null, CancellationToken.None);
            _logger.LogWarning("Job {Id} interrupted by shutdown", job.Id);
            Publish(new QueueEvent(QueueEventKind.Interrupted, job.Id));
        }
        catch (OperationCanceledException) when (jobCancel.IsCancellationRequested)
        {
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Cancelled, _time.GetUtcNow(), null, null, CancellationToken.None);
            _logger.LogInformation("Job {Id} cancelled", job.Id);
            Publish(new QueueEvent(QueueEventKind.Cancelled, job.Id));
        }
        catch (Exception ex) when (ex is not SimulatedCrashException)
        {
            var reason = Describe(ex, job.Request);
            _logger.LogError(ex, "Job {Id} failed", job.Id);
            await _jobs.TransitionAsync(job.Id, [JobStatus.Running], JobStatus.Failed, _time.GetUtcNow(), reason, null, CancellationToken.None);
            Publish(new QueueEvent(QueueEventKind.Failed, job.Id) { Error = reason });
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            _cancelRequested.TryRemove(job.Id, out _);
        }
        return true;
    }

    /// <summary>
    /// Queue events from the moment of this call until <paramref name="ct"/> is cancelled; each subscriber gets
    /// every event in the order it happened. Enumerate the result (or cancel) so the subscription ends.
    /// </summary>
    public IAsyncEnumerable<QueueEvent> SubscribeAsync(CancellationToken ct)
    {
        // Registered now, not at the first MoveNext, so no event between this call and the first read is missed.
        var channel = Channel.CreateUnbounded<QueueEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_subscribersGate)
            _subscribers.Add(channel);
        var registration = ct.Register(() => Unsubscribe(channel));
        return ReadAsync(channel, registration, ct);
    }

    private async IAsyncEnumerable<QueueEvent> ReadAsync(Channel<QueueEvent> channel, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            while (await channel.Reader.WaitToReadAsync(ct))
            {
                while (channel.Reader.TryRead(out var item))
                    yield return item;
            }
        }
        finally
        {
            await registration.DisposeAsync();
            Unsubscribe(channel);
        }
    }

    private void Unsubscribe(Channel<QueueEvent> channel)
    {
        lock (_subscribersGate)
            _subscribers.Remove(channel);
        channel.Writer.TryComplete();
    }

    private async Task<HistoryEntry> GenerateAndSaveAsync(GenerationJob job, string device, CancellationToken ct)
    {
        // Settings are checked again: a LoRA or model folder may have gone since the job was queued.
        _validator.EnsureValid(job.Request);
        var generator = ResolveGenerator(device);
        var catalog = _loras.GetSnapshot();
        var request = job.Request with
        {
            Seed = job.Request.Seed != 0 ? job.Request.Seed : Random.Shared.NextInt64(1, uint.MaxValue),
            Prompt = catalog.ComposePrompt(job.Request.Prompt, job.Request.Loras.Select(l => l.Name)),
        };
        var progress = new SynchronousProgress<GenerationProgress>(p =>
            Publish(new QueueEvent(QueueEventKind.Progress, job.Id) { Step = p.Step, TotalSteps = p.TotalSteps, PreviewPng = p.PreviewPng }));
        var image = await generator.GenerateAsync(request, progress, ct);
        ct.ThrowIfCancellationRequested();
        // The history keeps what was actually used; a generator that changed the prompt or seed is believed.
        var used = request with { Seed = image.Seed };
        try
        {
            return await _outputs.SaveAsync(used, image, ct);
        }
        catch (Exception e) when (EngineMemoryException.IsAllocationFailure(e))
        {
            throw new EngineMemoryException(MemoryShortfall.Unplanned(request.Width, request.Height, "saving the image",
                _validator.SizeMultiple), e);
        }
    }

    private IImageGenerator ResolveGenerator(string device) =>
        (_services as IKeyedServiceProvider)?.GetKeyedService<IImageGenerator>(device)
        ?? _services.GetService<IImageGenerator>()
        ?? throw new InvalidOperationException(
            $"No image generator is installed for device \"{device}\". Check that the model engine is configured, then queue the job again.");

    /// <summary>The job's failure in one sentence; memory advice in the terms of the surface that shows it.</summary>
    private string Describe(Exception ex, GenerationRequest request) => ex switch
    {
        EngineMemoryException memory => memory.Describe(_services.GetService<IMemoryRemedyWording>() ?? PlainMemoryRemedyWording.Instance),
        _ when EngineMemoryException.IsAllocationFailure(ex) => Describe(new EngineMemoryException(
            MemoryShortfall.Unplanned(request.Width, request.Height, "generating", _validator.SizeMultiple), ex), request),
        _ => ex.Message,
    };

    private void Publish(QueueEvent queueEvent)
    {
        lock (_subscribersGate)
        {
            foreach (var subscriber in _subscribers)
                subscriber.Writer.TryWrite(queueEvent);
        }
        try
        {
            Changed?.Invoke(this, queueEvent);
        }
        catch (Exception ex)
        {
            // A faulty listener must not fail the job it listens to.
            _logger.LogWarning(ex, "A queue event handler failed");
        }
    }

    private void SignalWork() => Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
