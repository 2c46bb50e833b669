using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using FluxStudio.App.Generation;
using FluxStudio.Engine;
using FluxStudio.Engine.Training;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Training;

/// <summary>What a running (or just finished) run has reported since this process started it.</summary>
public sealed record TrainingLiveState(TrainingProgress? Latest, IReadOnlyList<LossPoint> Losses, string? LatestValidationImage);

/// <summary>A change of a run: its new state, and the progress report that caused it, if any.</summary>
public sealed record TrainingRunChanged(TrainingRun Run, TrainingProgress? Progress);

/// <summary>
/// The studio's training queue, for the web UI and the REST API: runs are started from a configuration and uploaded
/// images, queued, and run one at a time by <see cref="RunWorkerAsync"/> through <see cref="TrainingService"/>; a run
/// can be cancelled (queued or running) and continued from its last checkpoint (cancelled or failed). A run that was
/// running when the app stopped or died is queued again at the next start (<see cref="RecoverAsync"/>) and continues
/// from its last checkpoint, never from zero. While it trains, the run holds its device's model, so generations on
/// that device wait until it ends.
/// </summary>
public sealed class TrainingJobs
{
    private readonly TrainingRunStore _store;
    private readonly TrainingService _training;
    private readonly StudioOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TrainingJobs> _logger;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<string, LiveRun> _live = new();
    private readonly SemaphoreSlim _claim = new(1, 1);
    private TaskCompletionSource _workArrived = NewSignal();

    public TrainingJobs(TrainingRunStore store, TrainingService training, IOptions<StudioOptions> options, TimeProvider? time = null,
        ILogger<TrainingJobs>? logger = null)
    {
        (_store, _training, _options) = (store, training, options.Value);
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<TrainingJobs>.Instance;
    }

    /// <summary>Raised on every change of a run (queued, progress, artifacts, end); handlers must not block.</summary>
    public event Action<TrainingRunChanged>? Changed;

    public TrainingRunStore Store => _store;

    /// <summary>
    /// Checks the configuration (the original app's train.json; its examples list the uploaded images by name) and
    /// queues a new run.
    /// </summary>
    /// <exception cref="TrainingConfigException">The configuration or the images cannot be used; the problems name the keys.</exception>
    public async Task<TrainingRun> StartAsync(string configJson, IReadOnlyList<(string Name, byte[] Bytes)> images, string? modelPath,
        CancellationToken ct)
    {
        var checkedFile = TrainingConfigFile.Parse(configJson, _store.Root);
        var problems = new List<ConfigProblem>();
        var listed = checkedFile.Config.Examples.Images;
        for (int i = 0; i < listed.Count; i++)
        {
            if (!images.Any(image => image.Name == listed[i].Image))
                problems.Add(new($"examples.images[{i}].image",
                    $"examples.images[{i}].image: \"{listed[i].Image}\" was not uploaded; add the picture with that file name."));
        }
        if (problems.Count > 0) throw new TrainingConfigException(problems);

        var config = (JsonObject)JsonNode.Parse(configJson, documentOptions: new() { AllowTrailingCommas = true, CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        var id = await _store.CreateFolderAsync(config, [.. images.Where(image => listed.Any(l => l.Image == image.Name))], ct);
        var plan = TrainingPlan.FromConfigFile(_store.ConfigPath(id), new TrainingOverrides(ModelPath: modelPath), _time.GetLocalNow().DateTime);
        var run = new TrainingRun
        {
            Id = id,
            CreatedAt = _time.GetUtcNow(),
            TotalSteps = LoraTrainingSession.StepsOf(plan.Config, plan.Config.Examples.Images.Count),
            ModelPath = plan.ModelPath,
            Warnings = plan.Warnings,
        };
        await SaveAsync(run, null, ct);
        _logger.LogInformation("Training run {Id} queued: {Steps} steps", id, run.TotalSteps);
        Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();
        return run;
    }

    public Task<TrainingRun?> GetAsync(string id, CancellationToken ct) => _store.GetAsync(id, ct);

    public Task<IReadOnlyList<TrainingRun>> ListAsync(CancellationToken ct) => _store.ListAsync(ct);

    /// <summary>What the run has reported in this process (losses, last progress), or the losses of its last checkpoint.</summary>
    public TrainingLiveState Live(string id)
    {
        if (_live.TryGetValue(id, out var live))
            return live.Snapshot();
        var output = _store.Output(id);
        var losses = output.Checkpoints() is { Count: > 0 } checkpoints ? ReadLosses(checkpoints[^1].Path) : [];
        return new TrainingLiveState(null, losses, output.ValidationImages() is { Count: > 0 } images ? images[^1].Path : null);
    }

    /// <summary>Stops a queued or running run; false when it has already ended (or runs in another process).</summary>
    public async Task<bool> CancelAsync(string id, CancellationToken ct)
    {
        await _claim.WaitAsync(ct);
        try
        {
            if (_running.TryGetValue(id, out var source))
            {
                await source.CancelAsync();
                return true;
            }
            var run = await _store.GetAsync(id, ct);
            if (run is not { Status: TrainingRunStatus.Queued })
                return false;
            await SaveAsync(run with { Status = TrainingRunStatus.Cancelled, FinishedAt = _time.GetUtcNow() }, null, ct);
            return true;
        }
        finally
        {
            _claim.Release();
        }
    }

    /// <summary>Queues a cancelled or failed run again, to continue from its last checkpoint (from the start when it has none).</summary>
    /// <exception cref="InvalidOperationException">The run is queued, running or done.</exception>
    public async Task<TrainingRun> ResumeAsync(string id, CancellationToken ct)
    {
        await _claim.WaitAsync(ct);
        try
        {
            var run = await _store.GetAsync(id, ct) ?? throw new KeyNotFoundException($"There is no training run {id}.");
            if (run.Status is not (TrainingRunStatus.Cancelled or TrainingRunStatus.Failed))
                throw new InvalidOperationException($"Training run {id} is {run.Status.ToString().ToLowerInvariant()}; only a cancelled or failed run can be continued.");
            var resumed = Requeue(run);
            await SaveAsync(resumed, null, ct);
            Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();
            return resumed;
        }
        finally
        {
            _claim.Release();
        }
    }

    /// <summary>Queues again the runs that were running when the app stopped, each to continue from its last checkpoint.</summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        int count = 0;
        foreach (var run in await _store.ListAsync(ct))
        {
            if (run.Status != TrainingRunStatus.Running) continue;
            var requeued = Requeue(run);
            await SaveAsync(requeued, null, ct);
            _logger.LogWarning("Training run {Id} was interrupted at step {Step}; it continues from {Checkpoint}", run.Id, requeued.Step,
                requeued.ResumeFrom ?? "the start");
            count++;
        }
        return count;
    }

    private TrainingRun Requeue(TrainingRun run)
    {
        var last = _store.Output(run.Id).Checkpoints() is { Count: > 0 } checkpoints ? checkpoints[^1] : default;
        return run with
        {
            Status = TrainingRunStatus.Queued,
            ResumeFrom = last.Path,
            Step = last.Path is null ? 0 : last.Iteration,
            Error = null,
            FinishedAt = null,
        };
    }

    /// <summary>Runs queued runs one at a time on <paramref name="device"/> until <paramref name="ct"/> (the app stopping) fires.</summary>
    public async Task RunWorkerAsync(string device, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var signal = _workArrived.Task;
            try
            {
                if (await RunNextAsync(device, ct))
                    continue;
                await signal.WaitAsync(_options.Queue.PollInterval, _time, ct);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Runs the oldest queued run to its end (done, failed, cancelled, or left running for the next start when the app stops).</summary>
    public async Task<bool> RunNextAsync(string device, CancellationToken ct)
    {
        TrainingRun run;
        CancellationTokenSource source;
        await _claim.WaitAsync(ct);
        try
        {
            var next = (await _store.ListAsync(ct)).Where(r => r.Status == TrainingRunStatus.Queued).MinBy(r => r.CreatedAt);
            if (next is null)
                return false;
            run = next with { Status = TrainingRunStatus.Running, StartedAt = _time.GetUtcNow(), Attempts = next.Attempts + 1 };
            await SaveAsync(run, null, ct);
            source = CancellationTokenSource.CreateLinkedTokenSource(ct);
            _running[run.Id] = source;
        }
        finally
        {
            _claim.Release();
        }

        var live = _live[run.Id] = new LiveRun();
        try
        {
            var plan = TrainingPlan.Create(TrainingConfigFile.Parse(await File.ReadAllTextAsync(_store.ConfigPath(run.Id), ct), _store.FolderOf(run.Id)!),
                new TrainingOverrides(ModelPath: run.ModelPath), _store.Output(run.Id).Path, run.ResumeFrom) with { LoraName = $"trained-{run.Id}" };
            var progress = new SynchronousProgress<TrainingProgress>(p => run = OnProgress(run, live, p));
            _logger.LogInformation("Training run {Id} started on {Device} (attempt {Attempt})", run.Id, device, run.Attempts);
            var outcome = await _training.TrainAsync(plan, device, progress, source.Token);
            run = run with
            {
                Status = TrainingRunStatus.Done, FinishedAt = _time.GetUtcNow(), Step = outcome.Steps, LastLoss = outcome.LastLoss,
                LoraName = outcome.CatalogName, ActivationKeyword = outcome.ActivationKeyword,
            };
            await SaveAsync(run, null, CancellationToken.None);
            _logger.LogInformation("Training run {Id} done; the LoRA is {Lora}", run.Id, outcome.CatalogName);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The app is stopping: the run stays "running" on disk and continues from its last checkpoint at the next start.
            _logger.LogWarning("Training run {Id} interrupted by shutdown at step {Step}", run.Id, run.Step);
        }
        catch (OperationCanceledException) when (source.IsCancellationRequested)
        {
            await SaveAsync(run with { Status = TrainingRunStatus.Cancelled, FinishedAt = _time.GetUtcNow() }, null, CancellationToken.None);
            _logger.LogInformation("Training run {Id} cancelled at step {Step}", run.Id, run.Step);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Training run {Id} failed", run.Id);
            await SaveAsync(run with { Status = TrainingRunStatus.Failed, FinishedAt = _time.GetUtcNow(), Error = ex.Message }, null, CancellationToken.None);
        }
        finally
        {
            _running.TryRemove(run.Id, out _);
            source.Dispose();
        }
        return true;
    }

    /// <summary>Records a report: in memory for the live view, and on disk whenever a checkpoint was written.</summary>
    private TrainingRun OnProgress(TrainingRun run, LiveRun live, TrainingProgress progress)
    {
        live.Add(progress);
        if (progress.Stage == TrainingStage.Training && progress.Loss is { } loss)
            run = run with { LastLoss = loss };
        if (progress.TotalSteps > 0 && progress.Stage == TrainingStage.Training)
            run = run with { TotalSteps = progress.TotalSteps };
        if (progress.WrittenKind == TrainingArtifact.Checkpoint)
        {
            run = run with { Step = progress.Step, ResumeFrom = progress.WrittenFile };
            // Written synchronously: the step after a checkpoint must find it recorded.
            SaveAsync(run, progress, CancellationToken.None).GetAwaiter().GetResult();
        }
        else
            Changed?.Invoke(new TrainingRunChanged(run with { Step = progress.Step }, progress));
        return run;
    }

    private async Task SaveAsync(TrainingRun run, TrainingProgress? progress, CancellationToken ct)
    {
        await _store.SaveAsync(run, ct);
        Changed?.Invoke(new TrainingRunChanged(run, progress));
    }

    private static IReadOnlyList<LossPoint> ReadLosses(string zip)
    {
        try
        {
            return TrainingCheckpoint.ReadLosses(zip);
        }
        catch (Exception e) when (e is FormatException or IOException)
        {
            return [];
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class LiveRun
    {
        private readonly Lock _gate = new();
        private readonly List<LossPoint> _losses = [];
        private TrainingProgress? _latest;
        private string? _validationImage;

        public void Add(TrainingProgress progress)
        {
            lock (_gate)
            {
                _latest = progress;
                if (progress.EarlierLosses is { } earlier)
                {
                    _losses.Clear();
                    _losses.AddRange(earlier);
                }
                if (progress.Stage == TrainingStage.Training && progress.Loss is { } loss && progress.WrittenFile is null)
                    _losses.Add(new LossPoint(progress.Step, loss, DateTime.Now));
                if (progress.WrittenKind == TrainingArtifact.ValidationImage)
                    _validationImage = progress.WrittenFile;
            }
        }

        public TrainingLiveState Snapshot()
        {
            lock (_gate)
                return new TrainingLiveState(_latest, [.. _losses], _validationImage);
        }
    }
}
