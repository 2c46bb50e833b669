using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Pipeline;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Generation;

/// <summary>
/// What the queue guarantees to workers that share it, in other processes or on other machines: a claim takes only a
/// job the worker can run; a claim is a lease, and a job whose worker died goes back to the queue when it runs out; a run
/// that lost its claim saves nothing, so a job completes once; a cancel reaches the worker through the job's row.
/// </summary>
public sealed class SharedQueueTests
{
    private readonly CancellationToken _ct = CancellationToken.None;

    private static StudioSandbox Sandbox(string provider, TimeSpan? lease = null) =>
        new(provider: provider, configure: o => o.Queue.LeaseDuration = lease ?? TimeSpan.FromMilliseconds(600));

    /// <summary>SQLite measures leases by the app's clock (a fake one here), PostgreSQL by its own.</summary>
    private static async Task LetLeasesRunOutAsync(StudioSandbox sandbox)
    {
        var lease = sandbox.Options.Queue.LeaseDuration;
        sandbox.Time.Advance(2 * lease);
        if (sandbox.IsPostgres)
            await Task.Delay(2 * lease);
    }

    private static WorkerProfile Worker(string name, params ModelCapacity[] capacities) => new(name, name, "cpu", null, capacities);

    [Theory, BothDatabases]
    public async Task A_claim_takes_only_a_job_the_worker_can_run(string provider)
    {
        using var sandbox = Sandbox(provider);
        var custom = Directory.CreateDirectory(Path.Combine(sandbox.Root, "models", "my-flux")).FullName;
        var queue = sandbox.CreateQueue(new FakeImageGenerator());
        var big = await queue.EnqueueAsync(TestRequests.Small("big") with { Width = 64, Height = 64 }, _ct);
        var quantized = await queue.EnqueueAsync(TestRequests.Small("quantized") with { Quantize = 8 }, _ct);
        var ownModel = await queue.EnqueueAsync(TestRequests.Small("own model") with { ModelPath = custom + Path.DirectorySeparatorChar }, _ct);
        var dev = await queue.EnqueueAsync(TestRequests.Small("dev") with { Model = Engine.Models.FluxVariant.Dev }, _ct);
        var reference = Path.Combine(sandbox.Root, "reference.png");
        await File.WriteAllBytesAsync(reference, PngEncoder.Encode(FakeRuns.EdgeMap(8, 8)), _ct);
        var guided = await queue.EnqueueAsync(TestRequests.Small("guided") with { ControlNetImagePath = reference }, _ct);

        var small = Worker("small", new ModelCapacity("schnell", null, 48 * 32), new ModelCapacity("schnell", 8, 48 * 32));
        var pathOnly = Worker("path", new ModelCapacity(custom, null, null));
        var nothing = Worker("nothing");

        // The oldest job is too big for "small": it takes the next one it fits, at the quantization it offers.
        Assert.Equal(quantized.Id, (await queue.Jobs.ClaimNextAsync(small, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct))?.Id);
        Assert.Null(await queue.Jobs.ClaimNextAsync(small, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct));
        Assert.Null(await queue.Jobs.ClaimNextAsync(nothing, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct));
        // A model path is the same model however it is spelled.
        Assert.Equal(ownModel.Id, (await queue.Jobs.ClaimNextAsync(pathOnly, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct))?.Id);
        // This machine's own worker runs anything.
        Assert.Equal(big.Id, (await queue.Jobs.ClaimNextAsync(WorkerProfile.Local("cpu"), sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct))?.Id);
        // A ControlNet job only goes to a worker that has the ControlNet, within the size it makes with it.
        var unguided = Worker("unguided", new ModelCapacity("schnell", null, 64 * 64));
        var guidedSmall = Worker("guided-small", new ModelCapacity("schnell", null, 48 * 32 - 1, ControlNet: true));
        var guidedRoomy = Worker("guided-roomy", new ModelCapacity("schnell", null, 48 * 32, ControlNet: true));
        Assert.Null(await queue.Jobs.ClaimNextAsync(unguided, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct));
        Assert.Null(await queue.Jobs.ClaimNextAsync(guidedSmall, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct));
        Assert.Equal(guided.Id, (await queue.Jobs.ClaimNextAsync(guidedRoomy, sandbox.Time.GetUtcNow(), TimeSpan.FromMinutes(1), _ct))?.Id);
        Assert.Equal([dev.Id], (await queue.ListActiveAsync(_ct)).Where(j => j.Status == JobStatus.Queued).Select(j => j.Id));
    }

    [Theory, BothDatabases]
    public async Task A_job_whose_worker_died_goes_back_when_its_lease_runs_out_and_fails_after_repeated_deaths(string provider)
    {
        using var sandbox = Sandbox(provider);
        var queue = sandbox.CreateQueue(new FakeImageGenerator());
        var job = await queue.EnqueueAsync(TestRequests.Small("unlucky"), _ct);
        var events = new List<QueueEvent>();
        queue.Changed += (_, e) => events.Add(e);

        // A worker claims the job and dies at once: nobody renews its lease.
        var lease = sandbox.Options.Queue.LeaseDuration;
        Assert.NotNull(await queue.Jobs.ClaimNextAsync(WorkerProfile.Local("gpu"), sandbox.Time.GetUtcNow(), lease, _ct));
        Assert.Equal(0, await queue.RecoverExpiredAsync(_ct));
        await LetLeasesRunOutAsync(sandbox);
        Assert.Equal(1, await queue.RecoverExpiredAsync(_ct));
        Assert.Equal(JobStatus.Queued, (await queue.GetAsync(job.Id, _ct))!.Status);
        Assert.Equal([new QueueEvent(QueueEventKind.Requeued, job.Id)], events);

        Assert.NotNull(await queue.Jobs.ClaimNextAsync(WorkerProfile.Local("gpu"), sandbox.Time.GetUtcNow(), lease, _ct));
        await LetLeasesRunOutAsync(sandbox);
        Assert.Equal(1, await queue.RecoverExpiredAsync(_ct));

        var failed = await queue.GetAsync(job.Id, _ct);
        Assert.Equal((JobStatus.Failed, 2), (failed!.Status, failed.Attempts));
        Assert.Contains("crashed or lost the database while this job ran, 2 times", failed.Error);
        Assert.Equal(QueueEventKind.Failed, events[^1].Kind);
        Assert.Equal(0, await queue.RecoverExpiredAsync(_ct));
    }

    [Theory, BothDatabases]
    public async Task A_run_that_lost_its_claim_saves_nothing_and_the_job_completes_once(string provider)
    {
        using var sandbox = Sandbox(provider);
        sandbox.Options.Queue.LeaseDuration = TimeSpan.FromMinutes(10);
        var hold = new TaskCompletionSource();
        var stalled = new FakeImageGenerator { HoldAfterFirstStep = hold.Task };
        var first = sandbox.CreateQueue(stalled);
        var job = await first.EnqueueAsync(TestRequests.Small("once") with { Metadata = true }, _ct);
        var firstRun = first.RunNextAsync("gpu0", _ct);
        await stalled.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);

        // The first worker stalls past its lease: the job goes back and a second worker runs it to the end.
        await sandbox.QueryScalarAsync<int>("UPDATE jobs SET status = 'interrupted', claim = NULL WHERE id = @id", new { id = job.Id });
        using var other = sandbox.Restart();
        var second = other.CreateQueue(new FakeImageGenerator());
        Assert.Equal(1, await second.RecoverAsync(_ct));
        Assert.True(await second.RunNextAsync("gpu1", _ct));
        var done = await second.GetAsync(job.Id, _ct);

        // The first worker wakes up and finishes writing its image: it must not count.
        hold.SetResult();
        Assert.True(await firstRun.WaitAsync(TestWait.HangGuard));

        var after = await second.GetAsync(job.Id, _ct);
        Assert.Equal((JobStatus.Done, done!.ImageId, 2), (after!.Status, after.ImageId, after.Attempts));
        var entries = (await sandbox.History.ListAsync(10, null, _ct)).Entries;
        Assert.Equal([done.ImageId!.Value], entries.Select(e => e.Id));
        Assert.Equal(entries.SelectMany(e => new[] { e.ImagePath, e.MetadataPath! }).Order(), Directory.EnumerateFiles(sandbox.OutputRoot).Order());
        Assert.Equal(0, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM images WHERE status <> 'saved'"));
    }

    [Theory, BothDatabases]
    public async Task A_batch_whose_run_lost_its_claim_is_finished_by_another_worker_with_each_image_once(string provider)
    {
        using var sandbox = Sandbox(provider);
        sandbox.Options.Queue.LeaseDuration = TimeSpan.FromMinutes(10);
        var hold = new TaskCompletionSource();
        var stalled = new FakeImageGenerator { HoldAtImage = 2, HoldAfterFirstStep = hold.Task };
        var first = sandbox.CreateQueue(stalled);
        var job = await first.EnqueueAsync(TestRequests.Small("three") with { Seeds = [5, 6, 7] }, _ct);
        var firstRun = first.RunNextAsync("gpu0", _ct);
        await stalled.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);

        // The first worker made image 1 and stalls in image 2 past its lease: the job goes to a second worker.
        await sandbox.QueryScalarAsync<int>("UPDATE jobs SET status = 'interrupted', claim = NULL WHERE id = @id", new { id = job.Id });
        using var other = sandbox.Restart();
        var generator = new FakeImageGenerator();
        var second = other.CreateQueue(generator);
        Assert.Equal(1, await second.RecoverAsync(_ct));
        Assert.True(await second.RunNextAsync("gpu1", _ct));
        // The first worker wakes up and finishes image 2 (and would go on to 3): none of it counts.
        hold.SetResult();
        Assert.True(await firstRun.WaitAsync(TestWait.HangGuard));

        var done = (await second.GetAsync(job.Id, _ct))!;
        Assert.Equal(JobStatus.Done, done.Status);
        Assert.Equal([6L, 7], generator.Requests.Single().Seeds);
        var entries = (await sandbox.History.ListAsync(10, null, _ct)).Entries;
        Assert.Equal(done.ImageIds.Order(), entries.Select(e => e.Id).Order());
        Assert.Equal([5L, 6, 7], done.ImageIds.Select(id => entries.Single(e => e.Id == id).Seed));
        Assert.Equal([GenerationWorker.BatchIdOf(job)], entries.Select(e => e.BatchId).Distinct());
        Assert.Equal(entries.Select(e => e.ImagePath).Order(), Directory.EnumerateFiles(sandbox.OutputRoot).Order());
        Assert.Equal(0, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM images WHERE status <> 'saved'"));
    }

    [Theory, BothDatabases]
    public async Task A_save_left_by_a_dead_worker_is_removed_once_its_job_went_back_and_the_job_completes_once(string provider)
    {
        using var sandbox = Sandbox(provider);
        var dying = sandbox.CreateQueue(new FakeImageGenerator());
        var job = await dying.EnqueueAsync(TestRequests.Small("survivor") with { Metadata = true }, _ct);
        // The worker dies the moment its PNG is complete, before the job is marked done.
        sandbox.History.CrashPoints.Hook = p => { if (p == "save:image-written") throw new SimulatedCrashException(p); };
        await Assert.ThrowsAsync<SimulatedCrashException>(() => dying.RunNextAsync("gpu0", _ct));
        Assert.Single(Directory.EnumerateFiles(sandbox.OutputRoot, "*.png"));

        using var other = sandbox.Restart();
        var survivor = other.CreateQueue(new FakeImageGenerator());
        if (other.Database.IsShared)
        {
            // Another machine repairs while the job is still held: the save may yet complete, so it is left alone.
            Assert.False((await other.History.ReconcileAsync(_ct)).Changed);
            await LetLeasesRunOutAsync(sandbox);
            Assert.Equal(1, await survivor.RecoverExpiredAsync(_ct));
        }
        else
        {
            Assert.Equal(1, await survivor.RecoverAsync(_ct));
        }
        var report = await other.History.ReconcileAsync(_ct);
        Assert.Equal((0, 1), (report.SavesCompleted, report.SavesRemoved));
        Assert.Empty(Directory.EnumerateFiles(sandbox.OutputRoot));

        Assert.True(await survivor.RunNextAsync("gpu1", _ct));
        var done = await survivor.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Done, done!.Status);
        Assert.Equal([done.ImageId!.Value], (await other.History.ListAsync(10, null, _ct)).Entries.Select(e => e.Id));
        Assert.Equal(2, Directory.EnumerateFiles(sandbox.OutputRoot).Count());
    }

    [Theory, BothDatabases]
    public async Task A_cancel_reaches_a_worker_in_another_process_through_the_job_row(string provider)
    {
        using var sandbox = Sandbox(provider);
        var hold = new TaskCompletionSource();
        var generator = new FakeImageGenerator { HoldAfterFirstStep = hold.Task };
        var web = sandbox.CreateQueue(null);
        using var workerProcess = sandbox.Restart();
        var worker = workerProcess.CreateQueue(generator);
        var job = await web.EnqueueAsync(TestRequests.Small("stop me"), _ct);
        var run = worker.RunNextAsync("gpu", _ct);
        await generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);

        var result = await web.CancelAsync(job.Id, _ct);

        Assert.True(result.Cancelled, result.Message);
        Assert.True(await run.WaitAsync(TestWait.HangGuard));
        var cancelled = await web.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Cancelled, cancelled!.Status);
        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
    }

    [Fact]
    public async Task A_job_no_running_worker_can_run_is_refused_with_what_the_workers_offer()
    {
        using var sandbox = Sandbox(DatabaseOptions.Postgres);
        var queue = sandbox.CreateQueue(null);
        // No worker runs yet: the job waits for one.
        await queue.EnqueueAsync(TestRequests.Small("waits"), _ct);
        await queue.Workers.AnnounceAsync(Worker("gpu-1", new ModelCapacity("schnell", null, 48 * 32)), DateTimeOffset.UtcNow, _ct);
        await queue.Workers.AnnounceAsync(Worker("gpu-2", new ModelCapacity("schnell", 8, 64 * 64)), DateTimeOffset.UtcNow, _ct);

        async Task<KeyValuePair<string, string>> RefusalAsync(GenerationRequest request) =>
            (await Assert.ThrowsAsync<RequestValidationException>(() => queue.EnqueueAsync(request, _ct))).Errors.Single();

        await queue.EnqueueAsync(TestRequests.Small("fits gpu-1"), _ct);
        await queue.EnqueueAsync(TestRequests.Small("fits gpu-2") with { Quantize = 8, Width = 64, Height = 64 }, _ct);
        var model = await RefusalAsync(TestRequests.Small() with { Model = Engine.Models.FluxVariant.Dev });
        Assert.Equal("Model", model.Key);
        Assert.Contains("No running worker has the model dev (they have schnell)", model.Value);
        var size = await RefusalAsync(TestRequests.Small() with { Width = 64, Height = 64 });
        Assert.Equal("Width", size.Key);
        Assert.Contains("the largest they make is 39² pixels", size.Value);
        Assert.Equal("Quantize", (await RefusalAsync(TestRequests.Small() with { Quantize = 4 })).Key);
        var reference = Path.Combine(sandbox.Root, "reference.png");
        await File.WriteAllBytesAsync(reference, PngEncoder.Encode(FakeRuns.EdgeMap(8, 8)), _ct);
        var controlNet = await RefusalAsync(TestRequests.Small() with { ControlNetImagePath = reference });
        Assert.Equal("ControlNetImagePath", controlNet.Key);
        Assert.Contains("No running worker has the ControlNet", controlNet.Value);
    }

    [Fact]
    public async Task A_worker_keeps_its_job_while_it_renews_its_lease_by_the_database_clock()
    {
        // Renewed every third of the lease: a lease long enough that a renewal held up for a second by a busy machine
        // (the whole suite running) still comes in time.
        using var sandbox = Sandbox(DatabaseOptions.Postgres, lease: TimeSpan.FromSeconds(2));
        var hold = new TaskCompletionSource();
        var generator = new FakeImageGenerator { HoldAfterFirstStep = hold.Task };
        var queue = sandbox.CreateQueue(generator);
        var job = await queue.EnqueueAsync(TestRequests.Small("long"), _ct);
        var run = queue.RunNextAsync("gpu", _ct);
        await generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);

        // Three leases' time: a run that did not renew would have lost the job twice over.
        for (var i = 0; i < 6; i++)
        {
            await Task.Delay(sandbox.Options.Queue.LeaseDuration / 2);
            Assert.Equal(0, await queue.RecoverExpiredAsync(_ct));
        }
        hold.SetResult();
        await run.WaitAsync(TestWait.HangGuard);

        Assert.Equal((JobStatus.Done, 1), ((await queue.GetAsync(job.Id, _ct))!.Status, (await queue.GetAsync(job.Id, _ct))!.Attempts));
    }

    [Fact]
    public async Task A_worker_on_another_machine_runs_a_ControlNet_and_image_to_image_job_from_the_pictures_the_web_server_kept()
    {
        using var web = Sandbox(DatabaseOptions.Postgres);
        // Another machine: its own data folder (and upload folder), the same database and output folder.
        using var workerMachine = new StudioSandbox(provider: DatabaseOptions.Postgres, time: web.Time, configure: o =>
        {
            o.Database = web.Options.Database;
            o.OutputRoot = web.OutputRoot;
        });
        var uploads = new InputImageStore(Microsoft.Extensions.Options.Options.Create(web.Options), web.Time);
        var referenceBytes = PngEncoder.Encode(FakeRuns.EdgeMap(8, 8));
        var startBytes = PngEncoder.Encode(new RgbImage(4, 4, Enumerable.Range(0, 48).Select(i => (byte)(i * 5)).ToArray()));
        var reference = await uploads.SaveAsync(referenceBytes, "image/png", _ct);
        var start = await uploads.SaveAsync(startBytes, "image/png", _ct);
        var job = await web.CreateQueue(null).EnqueueAsync(TestRequests.Small("from pictures") with
        {
            ControlNetImagePath = reference.Path, ControlNetStrength = 0.6, InitImagePath = start.Path, ImageStrength = 0.4, BatchCount = 2,
        }, _ct);
        // The web server's files are not on the worker's machine.
        File.Delete(reference.Path);
        File.Delete(start.Path);

        var engine = new FakeImageGenerator();
        Assert.True(await workerMachine.CreateQueue(engine).RunNextAsync("gpu", _ct));

        var done = (await web.CreateQueue(null).GetAsync(job.Id, _ct))!;
        Assert.Equal(JobStatus.Done, done.Status);
        // The engine read copies of the very pictures, kept in the worker's own upload folder.
        var ran = engine.Requests.Single();
        var workerUploads = workerMachine.Options.ResolveUploadFolder();
        Assert.Equal((workerUploads, workerUploads), (Path.GetDirectoryName(ran.ControlNetImagePath), Path.GetDirectoryName(ran.InitImagePath)));
        Assert.Equal(referenceBytes, await File.ReadAllBytesAsync(ran.ControlNetImagePath!, _ct));
        Assert.Equal(startBytes, await File.ReadAllBytesAsync(ran.InitImagePath!, _ct));
        // History records them as the web server named them, with their hashes, for each image of the batch.
        Assert.Equal(2, done.ImageIds.Count);
        foreach (var id in done.ImageIds)
        {
            var entry = (await web.History.GetAsync(id, _ct))!;
            Assert.Equal((reference.Path, reference.Hash, start.Path, start.Hash, 0.4),
                (entry.ControlNetImagePath, entry.ControlNetImageHash, entry.InitImagePath, entry.InitImageHash, entry.ImageStrength));
            Assert.True(File.Exists(entry.ControlNetCannyPath));
        }
        // Once the job has ended, the database no longer carries its pictures.
        Assert.Equal(0, await web.QueryScalarAsync<long>("SELECT COUNT(*) FROM job_pictures"));
    }
}
