using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.App.Training;

namespace FluxStudio.App.Tests.Training;

/// <summary>
/// Two processes sharing a PostgreSQL database: a web server that never trains and a worker training on the real engine
/// (training-tiny). What the worker's run reports reaches the web server through LISTEN/NOTIFY, and the web server's
/// cancel reaches the worker at once, without waiting for the worker to renew its lease.
/// </summary>
public sealed class TrainingRelayTests : IAsyncLifetime
{
    // Leases far longer than a test: a cancel can only reach the worker through the notification.
    private readonly StudioSandbox _sandbox = new(provider: DatabaseOptions.Postgres, configure: o => o.Queue.LeaseDuration = TimeSpan.FromHours(1));
    private readonly List<FluxImageGenerator> _generators = [];
    private readonly List<QueueEventRelay> _relays = [];
    private StudioSandbox _webMachine = null!;
    private TrainingJobs _worker = null!;
    private TrainingJobs _web = null!;

    public async Task InitializeAsync()
    {
        _webMachine = _sandbox.Restart();
        _worker = TrainingQueues.WithEngine(_sandbox, _generators);
        _web = TrainingQueues.WithoutEngine(_webMachine);
        foreach (var (sandbox, jobs) in new[] { (_sandbox, _worker), (_webMachine, _web) })
        {
            var relay = new QueueEventRelay(sandbox.Database, new GenerationEvents(), new RunningJobs(), training: jobs);
            await relay.StartAsync(CancellationToken.None);
            await relay.Listening.WaitAsync(TestWait.HangGuard);
            _relays.Add(relay);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var relay in _relays)
            await relay.StopAsync(CancellationToken.None);
        foreach (var generator in _generators)
            generator.Dispose();
        _webMachine.Dispose();
        _sandbox.Dispose();
    }

    private Task<TrainingRun> QueueOnWebAsync(int steps)
    {
        var (json, images) = TrainingTinyRun.Upload(steps, every: 2);
        return _web.StartAsync(json, images, TrainingTinyRun.ModelFolder, CancellationToken.None);
    }

    [Fact]
    public async Task Every_step_loss_and_validation_image_of_a_run_on_a_worker_reaches_the_web_server()
    {
        var received = new List<TrainingRunChanged>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _web.Changed += change =>
        {
            lock (received)
                received.Add(change);
            if (change.Run.IsFinished)
                ended.TrySetResult();
        };
        var run = await QueueOnWebAsync(steps: 4);

        Assert.True(await _worker.RunNextAsync(WorkerProfile.Local("default"), CancellationToken.None));
        await ended.Task.WaitAsync(TestWait.HangGuard);

        List<TrainingRunChanged> seen;
        lock (received)
            seen = [.. received];
        Assert.Equal([1, 2, 3, 4], seen.Where(c => c.Progress is { Stage: TrainingStage.Training, Loss: not null, WrittenFile: null })
            .Select(c => c.Progress!.Step));
        Assert.Equal(_worker.Live(run.Id).Losses.Select(l => (l.Step, l.Loss)), _web.Live(run.Id).Losses.Select(l => (l.Step, l.Loss)));
        var validation = _web.Live(run.Id).LatestValidationImage;
        Assert.StartsWith(_web.Store.Output(run.Id).ValidationImagesFolder, validation);
        Assert.True(File.Exists(validation));
        Assert.Contains(seen, c => c.Progress?.WrittenKind == TrainingArtifact.Checkpoint && File.Exists(c.Progress.WrittenFile));
        var last = seen[^1].Run;
        Assert.Equal((TrainingRunStatus.Done, 4), (last.Status, last.Step));
        Assert.Equal((await _web.GetAsync(run.Id, CancellationToken.None))!.LoraName, last.LoraName);
        Assert.NotNull(last.LoraName);
    }

    [Fact]
    public async Task A_cancel_on_the_web_server_stops_the_run_on_the_worker_at_once()
    {
        var run = await QueueOnWebAsync(steps: 40);
        var checkpointed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _web.Changed += change =>
        {
            if (change.Progress?.WrittenKind == TrainingArtifact.Checkpoint)
                checkpointed.TrySetResult();
        };
        var training = _worker.RunNextAsync(WorkerProfile.Local("default"), CancellationToken.None);
        await checkpointed.Task.WaitAsync(TestWait.HangGuard);

        Assert.True(await _web.CancelAsync(run.Id, CancellationToken.None));
        await training.WaitAsync(TestWait.HangGuard);
        var cancelled = (await _web.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal(TrainingRunStatus.Cancelled, cancelled.Status);
        Assert.InRange(cancelled.Step, 2, 38);
    }
}
