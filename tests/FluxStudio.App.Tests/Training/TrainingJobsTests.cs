using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.App.Training;
using FluxStudio.Engine;

namespace FluxStudio.App.Tests.Training;

/// <summary>The studio's training queue on the real engine: training-tiny's configuration and images, uploaded as a client sends them.</summary>
public sealed class TrainingJobsTests : IDisposable
{
    private const string Device = "default";
    private readonly StudioSandbox _sandbox = new();
    private readonly List<FluxImageGenerator> _generators = [];
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose()
    {
        foreach (var generator in _generators) generator.Dispose();
        _sandbox.Dispose();
    }

    /// <summary>The queue over the sandbox's data folder, as a (re)started app builds it.</summary>
    private TrainingJobs NewJobs() => TrainingQueues.WithEngine(_sandbox, _generators);

    private static Task<TrainingRun> StartAsync(TrainingJobs jobs, int steps = 4, int every = 2)
    {
        var (json, images) = TrainingTinyRun.Upload(steps, every);
        return jobs.StartAsync(json, images, TrainingTinyRun.ModelFolder, CancellationToken.None);
    }

    [Fact]
    public async Task AQueuedRunTrainsToTheEndAndItsLoraAppearsInTheCatalog()
    {
        var jobs = NewJobs();
        var changes = new List<TrainingRunChanged>();
        jobs.Changed += change => { lock (changes) changes.Add(change); };
        var run = await StartAsync(jobs);
        Assert.Equal(TrainingRunStatus.Queued, run.Status);
        Assert.Equal(4, run.TotalSteps);

        Assert.True(await jobs.RunNextAsync(Device, _ct));
        Assert.False(await jobs.RunNextAsync(Device, _ct));

        var done = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Done, done.Status);
        Assert.Equal(4, done.Step);
        Assert.Equal(1, done.Attempts);
        var entry = _sandbox.Loras.GetSnapshot().Entries.Single(e => e.FileName == done.LoraName);
        Assert.Equal("sks", entry.ActivationKeyword);
        Assert.Equal([1, 2, 3, 4], jobs.Live(run.Id).Losses.Select(l => l.Step));
        Assert.NotNull(jobs.Live(run.Id).LatestValidationImage);
        Assert.Contains(changes, c => c.Progress?.Loss is not null);
        Assert.Equal(TrainingRunStatus.Done, changes[^1].Run.Status);
        Assert.Equal([run.Id], (await jobs.ListAsync(_ct)).Select(r => r.Id));
    }

    [Fact]
    public async Task ARunTheAppLeftRunningContinuesFromItsLastCheckpointAfterARestartAndEndsAsAnUninterruptedRun()
    {
        var straight = NewJobs();
        var reference = await StartAsync(straight);
        await straight.RunNextAsync(Device, _ct);
        var expected = File.ReadAllBytes(straight.Store.Output(reference.Id).LoraPath);

        var first = NewJobs();
        var run = await StartAsync(first);
        using var stopping = new CancellationTokenSource();
        first.Changed += change =>
        {
            if (change.Run.Id == run.Id && change.Progress?.WrittenKind == TrainingArtifact.Checkpoint) stopping.Cancel();
        };
        await first.RunNextAsync(Device, stopping.Token);
        var left = (await first.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Running, left.Status);
        Assert.Equal(2, left.Step);

        var restarted = NewJobs();
        Assert.Equal(1, await restarted.RecoverAsync(_ct));
        var queued = (await restarted.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Queued, queued.Status);
        Assert.EndsWith("0000002_checkpoint.zip", queued.ResumeFrom);
        var steps = new List<int>();
        restarted.Changed += change =>
        {
            if (change.Progress is { Stage: TrainingStage.Training, Loss: not null } p) steps.Add(p.Step);
        };
        Assert.True(await restarted.RunNextAsync(Device, _ct));

        var done = (await restarted.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Done, done.Status);
        Assert.Equal(2, done.Attempts);
        Assert.Equal([3, 4], steps);
        Assert.Equal(expected, File.ReadAllBytes(restarted.Store.Output(run.Id).LoraPath));
        Assert.Equal([1, 2, 3, 4], restarted.Live(run.Id).Losses.Select(l => l.Step));
        // After another start, the losses come from the last checkpoint.
        Assert.Equal(restarted.Live(run.Id).Losses.Select(l => (l.Step, l.Loss)), NewJobs().Live(run.Id).Losses.Select(l => (l.Step, l.Loss)));
    }

    [Fact]
    public async Task ACancelledRunStaysCancelledUntilResumedThenContinuesFromItsCheckpoint()
    {
        var jobs = NewJobs();
        var run = await StartAsync(jobs);
        jobs.Changed += change =>
        {
            if (change.Progress?.WrittenKind == TrainingArtifact.Checkpoint && change.Run.Step == 2 && change.Run.Attempts == 1)
                _ = jobs.CancelAsync(run.Id, _ct);
        };
        await jobs.RunNextAsync(Device, _ct);
        var cancelled = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Cancelled, cancelled.Status);
        Assert.False(File.Exists(jobs.Store.Output(run.Id).LoraPath));
        Assert.False(await jobs.RunNextAsync(Device, _ct));
        Assert.False(await jobs.CancelAsync(run.Id, _ct));

        var resumed = await jobs.ResumeAsync(run.Id, _ct);
        Assert.Equal(TrainingRunStatus.Queued, resumed.Status);
        Assert.EndsWith("0000002_checkpoint.zip", resumed.ResumeFrom);
        await jobs.RunNextAsync(Device, _ct);
        Assert.Equal(TrainingRunStatus.Done, (await jobs.GetAsync(run.Id, _ct))!.Status);
        await Assert.ThrowsAsync<InvalidOperationException>(() => jobs.ResumeAsync(run.Id, _ct));
    }

    [Fact]
    public async Task AQueuedRunCanBeCancelledBeforeItStarts()
    {
        var jobs = NewJobs();
        var run = await StartAsync(jobs);
        Assert.True(await jobs.CancelAsync(run.Id, _ct));
        Assert.False(await jobs.RunNextAsync(Device, _ct));
        Assert.Equal(TrainingRunStatus.Cancelled, (await jobs.GetAsync(run.Id, _ct))!.Status);
    }

    [Fact]
    public async Task AnImageTheConfigurationListsButNobodyUploadedIsRefusedWithItsKey()
    {
        var jobs = NewJobs();
        var (json, images) = TrainingTinyRun.Upload(4, 2);
        var error = await Assert.ThrowsAsync<TrainingConfigException>(() => jobs.StartAsync(json, images.Take(1).ToList(), null, _ct));
        Assert.Equal("examples.images[1].image", Assert.Single(error.Problems).Key);
        Assert.Empty(await jobs.ListAsync(_ct));
    }

    [Fact]
    public async Task AFailedRunRecordsWhyAndLeavesNoLora()
    {
        var jobs = NewJobs();
        var (json, images) = TrainingTinyRun.Upload(4, 2);
        var run = await jobs.StartAsync(json, images, Path.Combine(_sandbox.Root, "no-such-model"), _ct);
        await jobs.RunNextAsync(Device, _ct);
        var failed = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal(TrainingRunStatus.Failed, failed.Status);
        Assert.Contains("no-such-model", failed.Error);
        Assert.False(File.Exists(jobs.Store.Output(run.Id).LoraPath));
        Assert.Empty(_sandbox.Loras.GetSnapshot().Entries);
    }
}
