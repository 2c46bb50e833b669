using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Generation;

/// <summary>
/// Two processes sharing a PostgreSQL database, each with its own queue services: what one publishes reaches the other
/// through LISTEN/NOTIFY, previews and errors included, and a cancel reaches the run at once.
/// </summary>
public sealed class QueueEventRelayTests
{
    private readonly CancellationToken _ct = CancellationToken.None;

    private sealed class Process(StudioSandbox sandbox, IImageGenerator? generator) : IAsyncDisposable
    {
        public StudioQueue Queue { get; } = sandbox.CreateQueue(generator);

        public QueueEventRelay Relay { get; private set; } = null!;

        public async Task StartAsync()
        {
            Relay = new QueueEventRelay(sandbox.Database, Queue.Events, Queue.Running, time: sandbox.Time);
            await Relay.StartAsync(CancellationToken.None);
            await Relay.Listening.WaitAsync(TestWait.HangGuard);
        }

        public async ValueTask DisposeAsync() => await Relay.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Every_event_of_a_run_on_one_machine_reaches_the_other_in_order_with_its_preview()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres);
        using var otherMachine = sandbox.Restart();
        await using var worker = new Process(sandbox, new FakeImageGenerator());
        await using var web = new Process(otherMachine, null);
        await worker.StartAsync();
        await web.StartAsync();
        var seenByWorker = new List<QueueEvent>();
        var workerHeardOfJob = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        worker.Queue.Changed += (_, e) =>
        {
            seenByWorker.Add(e);
            if (e.Kind == QueueEventKind.Queued)
                workerHeardOfJob.TrySetResult();
        };
        var received = new List<QueueEvent>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        web.Queue.Changed += (_, e) =>
        {
            received.Add(e);
            if (e.EndsRun)
                completed.TrySetResult();
        };

        var job = await web.Queue.EnqueueAsync(TestRequests.Small("far away") with { Steps = 2, BatchCount = 2 }, _ct);
        // Otherwise the worker may hear of the queuing only after it has started the job, and tell the story in another order.
        await workerHeardOfJob.Task.WaitAsync(TestWait.HangGuard);
        Assert.True(await worker.Queue.RunNextAsync("gpu", _ct));
        await completed.Task.WaitAsync(TestWait.HangGuard);

        QueueEventKind[] image = [QueueEventKind.Progress, QueueEventKind.Progress, QueueEventKind.ImageSaved];
        Assert.Equal([QueueEventKind.Started, .. image, .. image, QueueEventKind.Completed], received.Skip(1).Select(e => e.Kind));
        Assert.Equal(new QueueEvent(QueueEventKind.Queued, job.Id), received[0]);
        // Both machines tell the same story: the web server's queuing, then the worker's run, image by image.
        Assert.Equal(seenByWorker.Select(e => (e.Kind, e.JobId, e.Stage, e.Step, e.TotalSteps, e.ImageId, e.Image, e.Images, string.Join(",", e.ImageIds))),
            received.Select(e => (e.Kind, e.JobId, e.Stage, e.Step, e.TotalSteps, e.ImageId, e.Image, e.Images, string.Join(",", e.ImageIds))));
        Assert.All(received.Where(e => e.Kind == QueueEventKind.Progress), e => Assert.NotNull(e.Stage));
        Assert.Equal([1, 2, 3], received.Last(e => e.Step == 2).PreviewPng);
        var done = (await web.Queue.GetAsync(job.Id, _ct))!;
        Assert.Equal(2, done.ImageIds.Count);
        Assert.Equal(done.ImageIds, received[^1].ImageIds);
        Assert.Equal(done.ImageId, received[^1].ImageId);
    }

    [Fact]
    public async Task A_listener_that_reads_a_step_after_the_run_ended_still_finds_its_preview()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres);
        using var otherMachine = sandbox.Restart();
        await using var worker = new Process(sandbox, new FakeImageGenerator());
        await using var web = new Process(otherMachine, null);
        await worker.StartAsync();
        await web.StartAsync();
        // A third listener learns when the worker's end of run, and the preview cleanup sent with it, is committed.
        await using var probe = (Npgsql.NpgsqlConnection)await sandbox.Database.OpenAsync(_ct);
        var runEndSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.Notification += (_, n) =>
        {
            if (n.Payload.Contains("\"completed\"", StringComparison.Ordinal))
                runEndSent.TrySetResult();
        };
        await using (var listen = new Npgsql.NpgsqlCommand("LISTEN fluxstudio_events", probe))
            await listen.ExecuteNonQueryAsync(_ct);
        using var cts = new CancellationTokenSource(TestWait.HangGuard);
        var listening = Task.Run(async () =>
        {
            while (!runEndSent.Task.IsCompleted)
                await probe.WaitAsync(cts.Token);
        });
        var received = new List<QueueEvent>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        web.Queue.Changed += (_, e) =>
        {
            // The web server falls behind: it reads the run's steps only once the run has ended.
            if (e.Kind == QueueEventKind.Started)
                runEndSent.Task.Wait(TestWait.HangGuard);
            received.Add(e);
            if (e.EndsRun)
                completed.TrySetResult();
        };

        await web.Queue.EnqueueAsync(TestRequests.Small("slow reader") with { Steps = 2 }, _ct);
        Assert.True(await worker.Queue.RunNextAsync("gpu", _ct));
        await completed.Task.WaitAsync(TestWait.HangGuard);
        await listening;

        Assert.Equal([1, 2, 3], received.Last(e => e.Kind == QueueEventKind.Progress).PreviewPng);
    }

    [Fact]
    public async Task A_failure_reaches_the_other_machine_with_its_reason()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres);
        using var otherMachine = sandbox.Restart();
        var reason = "The model folder has no transformer weights. " + new string('x', 9000);
        await using var worker = new Process(sandbox, new FakeImageGenerator { Failure = new InvalidOperationException(reason) });
        await using var web = new Process(otherMachine, null);
        await worker.StartAsync();
        await web.StartAsync();
        var failed = new TaskCompletionSource<QueueEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        web.Queue.Changed += (_, e) =>
        {
            if (e.Kind == QueueEventKind.Failed)
                failed.TrySetResult(e);
        };

        await web.Queue.EnqueueAsync(TestRequests.Small(), _ct);
        await worker.Queue.RunNextAsync("gpu", _ct);

        // Longer than a notification may carry: it travels in the job's row.
        Assert.Equal(reason, (await failed.Task.WaitAsync(TestWait.HangGuard)).Error);
    }

    [Fact]
    public async Task A_cancel_on_one_machine_stops_the_run_on_another_at_once()
    {
        // Leases so long that no renewal happens during the test: only the notification can carry the cancel.
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres, configure: o => o.Queue.LeaseDuration = TimeSpan.FromHours(1));
        using var otherMachine = sandbox.Restart();
        var generator = new FakeImageGenerator { HoldAfterFirstStep = new TaskCompletionSource().Task };
        await using var worker = new Process(sandbox, generator);
        await using var web = new Process(otherMachine, null);
        await worker.StartAsync();
        await web.StartAsync();
        var job = await web.Queue.EnqueueAsync(TestRequests.Small("stop me"), _ct);
        var run = worker.Queue.RunNextAsync("gpu", _ct);
        await generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);

        Assert.True((await web.Queue.CancelAsync(job.Id, _ct)).Cancelled);

        Assert.True(await run.WaitAsync(TestWait.HangGuard));
        Assert.Equal(JobStatus.Cancelled, (await web.Queue.GetAsync(job.Id, _ct))!.Status);
    }
}
