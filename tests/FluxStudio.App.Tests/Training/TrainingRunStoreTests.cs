using System.Text.Json;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.App.Training;

namespace FluxStudio.App.Tests.Training;

/// <summary>
/// The training runs' store and queue against both databases, without training: claims, leases, cancel requests, the
/// recovery of runs whose worker died, and the import of run folders written by earlier versions.
/// </summary>
public sealed class TrainingRunStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(1);
    private readonly CancellationToken _ct = CancellationToken.None;

    /// <summary>The queue without an engine: what is tested here never trains.</summary>
    private static TrainingJobs Jobs(StudioSandbox sandbox) => TrainingQueues.WithoutEngine(sandbox);

    private static Task<TrainingRun> QueueAsync(TrainingJobs jobs, string? modelPath = null)
    {
        var (json, images) = TrainingTinyRun.Upload(4, 2);
        return jobs.StartAsync(json, images, modelPath ?? TrainingTinyRun.ModelFolder, CancellationToken.None);
    }

    private static WorkerProfile WorkerWith(string name, params string[] models) =>
        new(Guid.NewGuid().ToString("N"), name, "cpu", null, [.. models.Select(model => new ModelCapacity(model, null, 64 * 64))]);

    /// <summary>Lets a lease run out by both clocks: the test's (SQLite's leases) and the server's (PostgreSQL's).</summary>
    private static async Task LetLeaseRunOutAsync(StudioSandbox sandbox)
    {
        sandbox.Time.Advance(Lease * 2);
        await Task.Delay(Lease * 2);
    }

    /// <summary>A checkpoint file in the run's folder, as training writes it, so recovery continues from it.</summary>
    private static string WriteCheckpoint(TrainingRunStore store, string id, int step)
    {
        var path = store.Output(id).CheckpointPath(step);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [1, 2, 3]);
        return path;
    }

    [Fact]
    public async Task A_run_no_running_worker_can_train_is_refused_with_what_the_workers_have()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres);
        var jobs = Jobs(sandbox);
        var workers = new WorkerRegistry(sandbox.Database);
        var tinyModel = Path.TrimEndingDirectorySeparator(TrainingTinyRun.ModelFolder);
        var quantize = TrainingTinyRun.Config()["quantize"]?.GetValue<int?>();
        int otherQuantize = quantize == 8 ? 4 : 8;
        WorkerProfile Offering(string name, int? bits) => new(name, name, "cpu", null, [new ModelCapacity(tinyModel, bits, null)]);
        // No worker runs yet: the run waits for one.
        await QueueAsync(jobs);

        await workers.AnnounceAsync(WorkerWith("schnell-only", "schnell"), sandbox.Time.GetUtcNow(), _ct);
        var model = Assert.Single((await Assert.ThrowsAsync<TrainingConfigException>(() => QueueAsync(jobs))).Problems);
        Assert.Equal("modelPath", model.Key);
        Assert.Contains($"No running worker has the model {tinyModel} (they have schnell)", model.Message);

        await workers.AnnounceAsync(Offering("other-quantization", otherQuantize), sandbox.Time.GetUtcNow(), _ct);
        Assert.Equal("quantize", Assert.Single((await Assert.ThrowsAsync<TrainingConfigException>(() => QueueAsync(jobs))).Problems).Key);

        await workers.AnnounceAsync(Offering("has-it", quantize), sandbox.Time.GetUtcNow(), _ct);
        await QueueAsync(jobs);
        Assert.Equal(2, (await jobs.ListAsync(_ct)).Count);
    }

    [Theory, BothDatabases]
    public async Task A_queued_run_is_stored_with_what_it_needs_and_listed_newest_first(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var jobs = Jobs(sandbox);
        var first = await QueueAsync(jobs);
        sandbox.Time.Advance(TimeSpan.FromMinutes(1));
        var second = await QueueAsync(jobs, Path.Combine(sandbox.Root, "other-model"));

        Assert.Equal([second.Id, first.Id], (await jobs.ListAsync(_ct)).Select(run => run.Id));
        var stored = (await jobs.GetAsync(first.Id, _ct))!;
        Assert.Equal((TrainingRunStatus.Queued, 4, first.CreatedAt, TrainingTinyRun.ModelFolder, 0),
            (stored.Status, stored.TotalSteps, stored.CreatedAt, stored.ModelPath, stored.Attempts));
        Assert.Equal(Path.TrimEndingDirectorySeparator(TrainingTinyRun.ModelFolder),
            await sandbox.QueryScalarAsync<string>("SELECT model FROM training_runs WHERE id = @id", new { id = first.Id }));
        Assert.Null(await jobs.GetAsync("20250101-000000-abcdef", _ct));
    }

    [Theory, BothDatabases]
    public async Task A_worker_claims_only_runs_of_models_it_has_and_each_run_once(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var jobs = Jobs(sandbox);
        var store = jobs.Store;
        var other = Path.Combine(sandbox.Root, "other-model");
        var runs = new List<TrainingRun>();
        for (var i = 0; i < 6; i++)
        {
            runs.Add(await QueueAsync(jobs, i == 0 ? other : null));
            sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Null(await store.ClaimNextAsync(WorkerWith("none", Path.Combine(sandbox.Root, "missing")), sandbox.Time.GetUtcNow(), Lease, _ct));
        var tiny = TrainingTinyRun.ModelFolder;
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            store.ClaimNextAsync(WorkerWith($"w{i}", tiny), sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct)));
        var claimed = claims.OfType<TrainingRun>().ToList();
        Assert.Equal(runs.Skip(1).Select(r => r.Id).Order(), claimed.Select(r => r.Id).Order());
        Assert.All(claimed, run => Assert.Equal((TrainingRunStatus.Running, 1), (run.Status, run.Attempts)));
        Assert.Equal(claimed.Count, claimed.Select(r => r.Claim).Distinct().Count());

        var any = await store.ClaimNextAsync(WorkerProfile.Local("cpu"), sandbox.Time.GetUtcNow(), Lease, _ct);
        Assert.Equal(runs[0].Id, any?.Id);
    }

    [Theory, BothDatabases]
    public async Task Only_the_claim_holder_renews_and_records_and_a_cancel_request_reaches_it_through_the_row(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var jobs = Jobs(sandbox);
        var run = await QueueAsync(jobs);
        var claimed = (await jobs.Store.ClaimNextAsync(WorkerProfile.Local("cpu"), sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct))!;
        var now = sandbox.Time.GetUtcNow();

        Assert.False(await jobs.Store.RenewAsync(run.Id, claimed.Claim!, now, TimeSpan.FromMinutes(1), _ct));
        Assert.Null(await jobs.Store.RenewAsync(run.Id, "not-the-claim", now, TimeSpan.FromMinutes(1), _ct));
        var checkpoint = WriteCheckpoint(jobs.Store, run.Id, 2);
        Assert.False(await jobs.Store.RecordCheckpointAsync(claimed with { Claim = "not-the-claim", Step = 2, ResumeFrom = checkpoint }, _ct));
        Assert.True(await jobs.Store.RecordCheckpointAsync(claimed with { Step = 2, ResumeFrom = checkpoint }, _ct));
        // Kept relative to the run's folder, which other machines may mount elsewhere.
        Assert.Equal(Path.Combine("out", "_checkpoints", Path.GetFileName(checkpoint)),
            await sandbox.QueryScalarAsync<string>("SELECT resume_from FROM training_runs WHERE id = @id", new { id = run.Id }));
        Assert.Equal((2, checkpoint), ((await jobs.GetAsync(run.Id, _ct))!.Step, (await jobs.GetAsync(run.Id, _ct))!.ResumeFrom));

        // Cancelled from another process: the row carries the request to the worker.
        Assert.True(await Jobs(sandbox.Restart()).CancelAsync(run.Id, _ct));
        Assert.True(await jobs.Store.RenewAsync(run.Id, claimed.Claim!, now, TimeSpan.FromMinutes(1), _ct));
        Assert.True(await jobs.Store.EndRunAsync(claimed with { Status = TrainingRunStatus.Cancelled, FinishedAt = now, Step = 2 }, _ct));
        Assert.Null(await jobs.Store.RenewAsync(run.Id, claimed.Claim!, now, TimeSpan.FromMinutes(1), _ct));
        Assert.False(await jobs.Store.EndRunAsync(claimed with { Status = TrainingRunStatus.Done }, _ct));
        Assert.Equal(TrainingRunStatus.Cancelled, (await jobs.GetAsync(run.Id, _ct))!.Status);
        Assert.False(await jobs.CancelAsync(run.Id, _ct));
    }

    [Theory, BothDatabases]
    public async Task A_run_whose_worker_died_goes_back_to_the_queue_from_its_last_checkpoint_and_fails_after_repeated_crashes(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider, configure: o => o.Queue.MaxAttempts = 2);
        var jobs = Jobs(sandbox);
        var run = await QueueAsync(jobs);
        var first = (await jobs.Store.ClaimNextAsync(WorkerProfile.Local("a"), sandbox.Time.GetUtcNow(), Lease, _ct))!;
        var checkpoint = WriteCheckpoint(jobs.Store, run.Id, 2);
        Assert.True(await jobs.Store.RecordCheckpointAsync(first with { Step = 2, ResumeFrom = checkpoint }, _ct));

        // Within its lease the run is its worker's; nobody takes it back.
        Assert.Equal(0, await jobs.RecoverExpiredAsync(_ct));
        await LetLeaseRunOutAsync(sandbox);
        var otherMachine = Jobs(sandbox.Restart());
        Assert.Equal(1, await otherMachine.RecoverExpiredAsync(_ct));
        Assert.Equal(0, await jobs.RecoverExpiredAsync(_ct));
        var requeued = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal((TrainingRunStatus.Queued, 2, checkpoint, 1, (string?)null), (requeued.Status, requeued.Step, requeued.ResumeFrom, requeued.Crashes, requeued.Claim));
        // The dead worker's claim is gone: what it would still record is refused.
        Assert.False(await jobs.Store.RecordCheckpointAsync(first with { Step = 3 }, _ct));

        var second = (await jobs.Store.ClaimNextAsync(WorkerProfile.Local("b"), sandbox.Time.GetUtcNow(), Lease, _ct))!;
        Assert.Equal((2, checkpoint), (second.Attempts, second.ResumeFrom));
        await LetLeaseRunOutAsync(sandbox);
        Assert.Equal(1, await otherMachine.RecoverExpiredAsync(_ct));
        var failed = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal((TrainingRunStatus.Failed, 2), (failed.Status, failed.Crashes));
        Assert.Contains("2 times", failed.Error);

        // Continued by a person, it starts counting again, from its last checkpoint.
        var resumed = await jobs.ResumeAsync(run.Id, _ct);
        Assert.Equal((TrainingRunStatus.Queued, 0, checkpoint), (resumed.Status, resumed.Crashes, resumed.ResumeFrom));
    }

    [Theory, BothDatabases]
    public async Task A_worker_that_stops_cleanly_lets_its_run_go_without_counting_a_crash(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider, configure: o => o.Queue.MaxAttempts = 1);
        var jobs = Jobs(sandbox);
        var run = await QueueAsync(jobs);
        var claimed = (await jobs.Store.ClaimNextAsync(WorkerProfile.Local("a"), sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(10), _ct))!;
        Assert.True(await jobs.Store.EndRunAsync(claimed, _ct));
        Assert.Equal(TrainingRunStatus.Running, (await jobs.GetAsync(run.Id, _ct))!.Status);

        Assert.Equal(1, await jobs.RecoverExpiredAsync(_ct));
        var queued = (await jobs.GetAsync(run.Id, _ct))!;
        Assert.Equal((TrainingRunStatus.Queued, 0, (string?)null), (queued.Status, queued.Crashes, queued.ResumeFrom));
    }

    [Theory, BothDatabases]
    public async Task Runs_of_earlier_versions_are_imported_once_from_their_folders_and_their_files_kept(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var jobs = Jobs(sandbox);
        // A run as an earlier version left it: its folder with train.json and run.json, interrupted at its checkpoint.
        var queued = await QueueAsync(jobs);
        var id = queued.Id.Replace(queued.Id[^6..], "0dd0dd", StringComparison.Ordinal);
        Directory.Move(jobs.Store.FolderOf(queued.Id)!, jobs.Store.FolderOf(id)!);
        var checkpoint = WriteCheckpoint(jobs.Store, id, 2);
        var legacy = new TrainingRun
        {
            Id = id, Status = TrainingRunStatus.Running, CreatedAt = queued.CreatedAt.AddDays(-1), StartedAt = queued.CreatedAt.AddDays(-1),
            Step = 2, TotalSteps = 4, LastLoss = 0.5, ResumeFrom = checkpoint, ModelPath = TrainingTinyRun.ModelFolder, Attempts = 1,
            Warnings = ["an old warning"],
        };
        var file = Path.Combine(jobs.Store.FolderOf(id)!, "run.json");
        File.WriteAllText(file, JsonSerializer.Serialize(legacy, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        var unreadable = Path.Combine(jobs.Store.Root, "20240101-000000-bad000", "run.json");
        Directory.CreateDirectory(Path.GetDirectoryName(unreadable)!);
        File.WriteAllText(unreadable, "{ half a fi");

        var restarted = Jobs(sandbox.Restart());
        var imported = (await restarted.GetAsync(id, _ct))!;
        Assert.Equal((TrainingRunStatus.Running, 2, 4, 0.5, checkpoint, 1), (imported.Status, imported.Step, imported.TotalSteps, imported.LastLoss,
            imported.ResumeFrom, imported.Attempts));
        Assert.Equal(["an old warning"], imported.Warnings);
        Assert.Equal(legacy.CreatedAt, imported.CreatedAt);
        Assert.False(File.Exists(file));
        Assert.True(File.Exists(file + ".imported"));
        Assert.True(File.Exists(unreadable));

        // Imported once: another start finds it in the database, as the first left it, and continues it.
        Assert.Equal(1, await Jobs(sandbox.Restart()).RecoverAsync(_ct));
        Assert.Equal(1, await sandbox.QueryScalarAsync<long>("SELECT COUNT(*) FROM training_runs WHERE id = @id", new { id }));
        var recovered = (await restarted.GetAsync(id, _ct))!;
        Assert.Equal((TrainingRunStatus.Queued, 2, checkpoint), (recovered.Status, recovered.Step, recovered.ResumeFrom));
    }
}
