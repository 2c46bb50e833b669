using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.Json.Nodes;
using FluxStudio.App.Data;
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
/// A change of a run as it travels between processes sharing a database (<see cref="QueueEventRelay"/>): the run's id and
/// the progress report's numbers; a file written is named by its kind and name, found in the run's folder by the receiver.
/// </summary>
public sealed record TrainingNotice(string RunId, TrainingStage? Stage = null, int Step = 0, int TotalSteps = 0, double? Loss = null,
    double? RemainingSeconds = null, TrainingArtifact? WrittenKind = null, string? WrittenName = null);

/// <summary>
/// The studio's training queue, for the web UI and the REST API: runs are started from a configuration and uploaded
/// images, queued in the database (<see cref="TrainingRunStore"/>), and claimed one at a time per worker by
/// <see cref="RunWorkerAsync"/>, which trains them through <see cref="TrainingService"/>; a run can be cancelled (queued or
/// running, in whatever process it trains) and continued from its last checkpoint (cancelled or failed). A claim is a
/// lease the worker renews: a run whose worker stopped is queued again (at the next start on one machine,
/// <see cref="RecoverAsync"/>; by any worker once the lease has run out on a shared database, <see cref="RecoverExpiredAsync"/>)
/// and continues from its last checkpoint, never from zero; after <see cref="QueueOptions.MaxAttempts"/> crashes it fails
/// with the reason. While it trains, the run holds its device's model, so generations on that device wait until it ends.
/// </summary>
public sealed class TrainingJobs
{
    private readonly TrainingRunStore _store;
    private readonly TrainingService _training;
    private readonly QueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TrainingJobs> _logger;
    private readonly WorkerRegistry? _workers;
    private readonly ConcurrentDictionary<string, RunningRun> _running = new();
    private readonly ConcurrentDictionary<string, LiveRun> _live = new();
    private TaskCompletionSource _workArrived = NewSignal();

    /// <param name="workers">The workers of a shared queue, to refuse a run none of them can train; none on one machine.</param>
    public TrainingJobs(TrainingRunStore store, TrainingService training, IOptions<StudioOptions> options, TimeProvider? time = null,
        ILogger<TrainingJobs>? logger = null, WorkerRegistry? workers = null)
    {
        (_store, _training, _options, _workers) = (store, training, options.Value.Queue, workers);
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<TrainingJobs>.Instance;
    }

    /// <summary>Raised on every change of a run (queued, progress, artifacts, end), wherever it trains; handlers must not block.</summary>
    public event Action<TrainingRunChanged>? Changed;

    /// <summary>Raised for each change made in this process, not for those received from others.</summary>
    internal event Action<TrainingRunChanged>? PublishedHere;

    public TrainingRunStore Store => _store;

    /// <summary>
    /// Checks the configuration (the original app's train.json; its examples list the uploaded images by name) and
    /// queues a new run.
    /// </summary>
    /// <exception cref="TrainingConfigException">
    /// The configuration or the images cannot be used, or workers of a shared queue are running and none has the model;
    /// the problems name the keys.
    /// </exception>
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
        await EnsureSomeWorkerCanTrainAsync(checkedFile.Config.Model, checkedFile.Config.Quantize, modelPath, ct);

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
        var (model, quantize) = TrainingRunStore.NeedsOf(plan.Config.Model, plan.Config.Quantize, plan.ModelPath);
        await _store.AddAsync(run, model, quantize, ct);
        Publish(new TrainingRunChanged(run, null));
        _logger.LogInformation("Training run {Id} queued: {Steps} steps", id, run.TotalSteps);
        WakeWorkers();
        return run;
    }

    /// <summary>
    /// With a shared queue, a run no running worker has the model for would wait for good: it is refused, saying what the
    /// workers have. When no worker runs at all, the run waits for one to start.
    /// </summary>
    private async Task EnsureSomeWorkerCanTrainAsync(string? model, int? quantize, string? modelPath, CancellationToken ct)
    {
        if (_workers is null)
            return;
        var live = await _workers.ListLiveAsync(_time.GetUtcNow() - _options.LeaseDuration, ct);
        var needs = TrainingRunStore.NeedsOf(model, quantize, modelPath);
        // A run needs only the model at its quantization: workers do not estimate a training's memory.
        if (live.Count == 0 || live.Any(worker => worker.CanRun(new JobNeeds(needs.Model, needs.Quantize, Pixels: 0))))
            return;
        var offered = live.SelectMany(worker => worker.Capacities ?? []).ToList();
        var problem = offered.Any(c => c.Model == needs.Model)
            ? new ConfigProblem("quantize", $"quantize: no running worker trains the model {needs.Model} at this quantization. Choose another quantization.")
            : new ConfigProblem(modelPath is null ? "model" : "modelPath",
                $"No running worker has the model {needs.Model} ({(offered.Count == 0 ? "they have none" : "they have " +
                    string.Join(", ", offered.Select(c => c.Model).Distinct()))}). Pick a model they have, or start a worker that has this one.");
        throw new TrainingConfigException([problem]);
    }

    public Task<TrainingRun?> GetAsync(string id, CancellationToken ct) => _store.GetAsync(id, ct);

    public Task<IReadOnlyList<TrainingRun>> ListAsync(CancellationToken ct) => _store.ListAsync(ct);

    /// <summary>
    /// What the run has reported while this process followed it (trained it, or heard of it from the process that trains
    /// it), or the losses of its last checkpoint.
    /// </summary>
    public TrainingLiveState Live(string id)
    {
        if (_live.TryGetValue(id, out var live))
            return live.Snapshot();
        var output = _store.Output(id);
        var losses = output.Checkpoints() is { Count: > 0 } checkpoints ? ReadLosses(checkpoints[^1].Path) : [];
        return new TrainingLiveState(null, losses, output.ValidationImages() is { Count: > 0 } images ? images[^1].Path : null);
    }

    /// <summary>
    /// Stops a queued run at once, or asks a running one to stop, wherever it trains (its worker hears of it through the
    /// row); false when it has already ended.
    /// </summary>
    public async Task<bool> CancelAsync(string id, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var run = await _store.GetAsync(id, ct);
            switch (run?.Status)
            {
                case TrainingRunStatus.Queued:
                    var cancelled = run with { Status = TrainingRunStatus.Cancelled, FinishedAt = _time.GetUtcNow() };
                    if (!await _store.MoveAsync(run, cancelled, onlyIfStranded: false, _time.GetUtcNow(), ct))
                        continue; // Claimed meanwhile: it is running now.
                    Publish(new TrainingRunChanged(cancelled, null));
                    return true;
                case TrainingRunStatus.Running:
                    if (!await _store.RequestCancelAsync(id, ct))
                        continue;
                    await CancelHereAsync(id);
                    return true;
                default:
                    return false;
            }
        }
        return false;
    }

    /// <summary>Stops this process's training of a run someone asked to cancel; nothing when it trains elsewhere.</summary>
    internal async Task CancelHereAsync(string id)
    {
        if (_running.TryGetValue(id, out var running))
        {
            running.CancelRequested = true;
            await running.Source.CancelAsync();
        }
    }

    /// <summary>Queues a cancelled or failed run again, to continue from its last checkpoint (from the start when it has none).</summary>
    /// <exception cref="InvalidOperationException">The run is queued, running or done.</exception>
    public async Task<TrainingRun> ResumeAsync(string id, CancellationToken ct)
    {
        var run = await _store.GetAsync(id, ct) ?? throw new KeyNotFoundException($"There is no training run {id}.");
        var resumed = Requeue(run) with { Crashes = 0 };
        if (run.Status is not (TrainingRunStatus.Cancelled or TrainingRunStatus.Failed) ||
            !await _store.MoveAsync(run, resumed, onlyIfStranded: false, _time.GetUtcNow(), ct))
        {
            var now = await _store.GetAsync(id, ct) ?? run;
            throw new InvalidOperationException(
                $"Training run {id} is {now.Status.ToString().ToLowerInvariant()}; only a cancelled or failed run can be continued.");
        }
        Publish(new TrainingRunChanged(resumed, null));
        WakeWorkers();
        return resumed;
    }

    /// <summary>
    /// Start-up recovery on one machine: the runs the last start left running are queued again, each to continue from its
    /// last checkpoint. Call in the one process that trains (<see cref="Data.DataFolderLock"/>), before it trains.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        int count = 0;
        foreach (var run in await _store.ListAsync(ct))
        {
            if (run.Status == TrainingRunStatus.Running && await ReturnAsync(run, onlyIfStranded: false, ct))
                count++;
        }
        return count;
    }

    /// <summary>
    /// Recovery while other machines train: a run whose worker let it go when it stopped, or whose worker's lease ran out
    /// (it died, or lost the database), is queued again; each is taken back by one process only.
    /// </summary>
    public async Task<int> RecoverExpiredAsync(CancellationToken ct)
    {
        int count = 0;
        foreach (var run in await _store.ListStrandedAsync(_time.GetUtcNow(), ct))
            count += await ReturnAsync(run, onlyIfStranded: true, ct) ? 1 : 0;
        return count;
    }

    /// <summary>
    /// Queues a run no worker trains any more to continue from its last checkpoint; cancels it if that was asked; fails it
    /// when its workers died <see cref="QueueOptions.MaxAttempts"/> times. A worker that stopped cleanly let go of its
    /// claim, which does not count as a crash.
    /// </summary>
    private async Task<bool> ReturnAsync(TrainingRun run, bool onlyIfStranded, CancellationToken ct)
    {
        var crashes = run.Crashes + (run.Claim is null ? 0 : 1);
        var now = _time.GetUtcNow();
        var next = run.CancelRequested ? run with { Status = TrainingRunStatus.Cancelled, FinishedAt = now }
            : crashes < _options.MaxAttempts ? Requeue(run) with { Crashes = crashes }
            : run with
            {
                Status = TrainingRunStatus.Failed, FinishedAt = now, Crashes = crashes,
                Error = $"The worker stopped, crashed or lost the database while this run trained, {crashes} times; it was not started " +
                        "again. Its checkpoints are kept: continue it to go on from the last one, with fewer images, a smaller size or " +
                        "quantization if a crash is the cause.",
            };
        if (!await _store.MoveAsync(run, next, onlyIfStranded, now, ct))
            return false;
        if (next.Status == TrainingRunStatus.Queued)
            _logger.LogWarning("Training run {Id} was interrupted at step {Step}; it continues from {Checkpoint}", run.Id, next.Step,
                next.ResumeFrom ?? "the start");
        else
            _logger.LogWarning("Training run {Id} was interrupted and is now {Status}", run.Id, next.Status);
        Publish(new TrainingRunChanged(next, null));
        if (next.Status == TrainingRunStatus.Queued)
            WakeWorkers();
        return true;
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

    /// <summary>Trains queued runs one at a time as <paramref name="worker"/> until <paramref name="ct"/> (the app stopping) fires.</summary>
    public Task RunWorkerAsync(WorkerProfile worker, CancellationToken ct) =>
        WorkerLoop.RunAsync(token => RunNextAsync(worker, token), () => _workArrived.Task,
            ex => ex is DbException or DatabaseUnavailableException, _options.PollInterval, _time, _logger, $"The training worker {worker.Name}", ct);

    /// <summary>Trains the oldest queued run on <paramref name="device"/> as this machine's worker, which trains any run.</summary>
    public Task<bool> RunNextAsync(string device, CancellationToken ct) => RunNextAsync(WorkerProfile.Local(device), ct);

    /// <summary>
    /// Claims the oldest queued run <paramref name="worker"/> has the model for and trains it to its end: done, failed,
    /// cancelled, or let go (still running, for the next start or another worker) when <paramref name="ct"/> (the app
    /// stopping) fires. Returns false when no such run was waiting.
    /// </summary>
    public async Task<bool> RunNextAsync(WorkerProfile worker, CancellationToken ct)
    {
        var run = await _store.ClaimNextAsync(worker, _time.GetUtcNow(), _options.LeaseDuration, ct);
        if (run is null)
            return false;
        var claim = run.Claim!;
        using var source = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = _running[run.Id] = new RunningRun(source);
        var live = _live[run.Id] = new LiveRun();
        var lease = new LeaseKeeper(_options.LeaseDuration, _time, _logger, $"Training run {run.Id}",
            c => _store.RenewAsync(run.Id, claim, _time.GetUtcNow(), _options.LeaseDuration, c),
            () => source.CancelAsync(), () => CancelHereAsync(run.Id));
        try
        {
            Publish(new TrainingRunChanged(run, null));
            var plan = TrainingPlan.Create(TrainingConfigFile.Parse(await File.ReadAllTextAsync(_store.ConfigPath(run.Id), ct), _store.FolderOf(run.Id)!),
                new TrainingOverrides(ModelPath: run.ModelPath), _store.Output(run.Id).Path, run.ResumeFrom) with { LoraName = $"trained-{run.Id}" };
            var progress = new SynchronousProgress<TrainingProgress>(p => run = OnProgress(run, live, p));
            _logger.LogInformation("Training run {Id} started on {Worker} (attempt {Attempt})", run.Id, worker.Name, run.Attempts);
            var outcome = await _training.TrainAsync(plan, worker.Device, progress, source.Token);
            await EndAsync(run with
            {
                Status = TrainingRunStatus.Done, FinishedAt = _time.GetUtcNow(), Step = outcome.Steps, LastLoss = outcome.LastLoss,
                LoraName = outcome.CatalogName, ActivationKeyword = outcome.ActivationKeyword,
            });
            _logger.LogInformation("Training run {Id} done; the LoRA is {Lora}", run.Id, outcome.CatalogName);
        }
        catch (Exception ex) when (lease.Lost || ex is ClaimLostException)
        {
            // The run is another worker's now, or back in the queue: nothing to record.
            _logger.LogWarning("Training run {Id}: this worker lost its claim (its lease ran out); it stops here", run.Id);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !running.CancelRequested)
        {
            // The app is stopping: the run stays running without a worker, and continues from its last checkpoint at the
            // next start (one machine) or on the next worker that claims it.
            await EndAsync(run);
            _logger.LogWarning("Training run {Id} interrupted by shutdown at step {Step}", run.Id, run.Step);
        }
        catch (OperationCanceledException) when (source.IsCancellationRequested)
        {
            await EndAsync(run with { Status = TrainingRunStatus.Cancelled, FinishedAt = _time.GetUtcNow() });
            _logger.LogInformation("Training run {Id} cancelled at step {Step}", run.Id, run.Step);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Training run {Id} failed", run.Id);
            await EndAsync(run with { Status = TrainingRunStatus.Failed, FinishedAt = _time.GetUtcNow(), Error = ex.Message });
        }
        finally
        {
            await lease.DisposeAsync();
            _running.TryRemove(run.Id, out _);
        }
        return true;
    }

    /// <summary>Records how a worker's run ended and announces it, unless the worker lost the run meanwhile.</summary>
    private async Task EndAsync(TrainingRun ended)
    {
        if (await _store.EndRunAsync(ended, CancellationToken.None))
            Publish(new TrainingRunChanged(ended with { Claim = null }, null));
        else
            _logger.LogWarning("Training run {Id} was no longer this worker's when it ended ({Status}); left as it is", ended.Id, ended.Status);
    }

    /// <summary>Records a report: in memory for the live view, and in the database whenever a checkpoint was written.</summary>
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
            // Recorded synchronously: the step after a checkpoint must find it recorded; a worker that lost the run stops.
            if (!_store.RecordCheckpointAsync(run, CancellationToken.None).GetAwaiter().GetResult())
                throw new ClaimLostException();
            Publish(new TrainingRunChanged(run, progress));
        }
        else
            Publish(new TrainingRunChanged(run with { Step = progress.Step }, progress));
        return run;
    }

    private void Publish(TrainingRunChanged change)
    {
        Deliver(change);
        PublishedHere?.Invoke(change);
    }

    private void Deliver(TrainingRunChanged change)
    {
        try
        {
            Changed?.Invoke(change);
        }
        catch (Exception ex)
        {
            // A faulty listener must not fail the run it listens to.
            _logger.LogWarning(ex, "A training event handler failed");
        }
    }

    /// <summary>A change as it goes to the other processes: numbers and names only.</summary>
    internal static TrainingNotice Notice(TrainingRunChanged change) => change.Progress is not { } p
        ? new TrainingNotice(change.Run.Id)
        : new TrainingNotice(change.Run.Id, p.Stage, p.Step, p.TotalSteps, p.Loss, p.Remaining?.TotalSeconds, p.WrittenKind,
            p.WrittenFile is { } file ? Path.GetFileName(file) : null);

    /// <summary>
    /// Delivers a change another process made: the run as its row says now, and the progress report, with the file it names
    /// in this machine's view of the run's folder and, when training starts, the losses of the checkpoint it continues from.
    /// </summary>
    internal async Task ReceiveAsync(TrainingNotice notice, CancellationToken ct)
    {
        if (await _store.GetAsync(notice.RunId, ct) is not { } run)
            return;
        if (run.Status == TrainingRunStatus.Queued)
            WakeWorkers();
        if (notice.Stage is not { } stage)
        {
            Deliver(new TrainingRunChanged(run, null));
            return;
        }
        var output = _store.Output(run.Id);
        var progress = new TrainingProgress(stage, notice.Step, notice.TotalSteps)
        {
            Loss = notice.Loss,
            Remaining = notice.RemainingSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            WrittenKind = notice.WrittenKind,
            WrittenFile = notice.WrittenName is not { } name ? null : notice.WrittenKind switch
            {
                TrainingArtifact.Checkpoint => Path.Combine(output.CheckpointsFolder, name),
                TrainingArtifact.ValidationImage => Path.Combine(output.ValidationImagesFolder, name),
                TrainingArtifact.LossPlot => Path.Combine(output.PlotsFolder, name),
                _ => output.LoraPath,
            },
        };
        var live = _live.GetOrAdd(run.Id, _ => new LiveRun());
        if (stage == TrainingStage.Training && notice.Loss is null && notice.WrittenKind is null)
            progress = progress with
            {
                EarlierLosses = run.ResumeFrom is { } zip ? [.. ReadLosses(zip).Where(point => point.Step <= notice.Step)] : [],
            };
        live.Add(progress);
        Deliver(new TrainingRunChanged(run with { Step = Math.Max(run.Step, notice.Step) }, progress));
    }

    private void WakeWorkers() => Interlocked.Exchange(ref _workArrived, NewSignal()).TrySetResult();

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

    private sealed class RunningRun(CancellationTokenSource source)
    {
        public CancellationTokenSource Source => source;

        /// <summary>Someone asked to cancel the run (rather than the app stopping).</summary>
        public bool CancelRequested { get; set; }
    }

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
