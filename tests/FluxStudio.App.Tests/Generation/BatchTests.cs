using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Generation;

/// <summary>A batch is one request (one queue job) whose images each become a history entry as soon as they are made.</summary>
public sealed class BatchTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly FakeImageGenerator _generator = new();
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _sandbox.Dispose();

    [Theory, BothDatabases]
    public async Task Each_image_of_a_batch_is_its_own_history_entry_with_the_batch_id_and_counted_seeds(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(_generator);
        var events = new List<QueueEvent>();
        queue.Changed += (_, e) => events.Add(e);
        var job = await queue.EnqueueAsync(TestRequests.Small() with { Seed = 10, BatchCount = 3 }, _ct);
        Assert.True(await queue.RunNextAsync("cpu", _ct));

        var done = (await queue.GetAsync(job.Id, _ct))!;
        Assert.Equal(JobStatus.Done, done.Status);
        Assert.Equal(3, done.ImageIds.Count);
        Assert.Equal(done.ImageIds[0], done.ImageId);
        var entries = await Task.WhenAll(done.ImageIds.Select(id => sandbox.History.GetAsync(id, _ct)));
        Assert.Equal([10L, 11, 12], entries.Select(e => e!.Seed));
        var batchId = Assert.Single(entries.Select(e => e!.BatchId).Distinct());
        Assert.NotNull(batchId);
        Assert.Equal(done.ImageIds, (await sandbox.History.ListBatchAsync(batchId, _ct)).Select(e => e.Id));
        Assert.Single(_generator.Requests);

        var saved = events.Where(e => e.Kind == QueueEventKind.ImageSaved).ToList();
        Assert.Equal(done.ImageIds, saved.Select(e => e.ImageId!.Value));
        Assert.Equal([1, 2, 3], saved.Select(e => e.Image!.Value));
        Assert.All(events.Where(e => e.Kind is QueueEventKind.Progress or QueueEventKind.ImageSaved), e => Assert.Equal(3, e.Images));
        Assert.Equal(done.ImageIds, events.Single(e => e.Kind == QueueEventKind.Completed).ImageIds);
    }

    [Fact]
    public async Task Random_seeds_of_a_batch_are_picked_for_each_image_and_all_differ()
    {
        var generation = _sandbox.CreateGeneration(_generator);
        var outcomes = await generation.GenerateAsync(TestRequests.Small() with { Seed = 0, BatchCount = 4 }, new GenerationOutput(),
            new Progress<GenerationProgress>(), _ct).ToListAsync(_ct);

        var seeds = outcomes.Select(o => o.Record.Seed).ToList();
        Assert.Equal(4, seeds.Distinct().Count());
        Assert.All(seeds, seed => Assert.InRange(seed, 1, uint.MaxValue));
        Assert.Equal(seeds, _generator.Requests.Single().Seeds);
        Assert.Equal([1, 2, 3, 4], outcomes.Select(o => o.Image));
        Assert.Single(outcomes.Select(o => o.Record.BatchId).Distinct());
    }

    [Fact]
    public async Task A_single_image_has_no_batch_id()
    {
        var entry = (await _sandbox.CreateGeneration(_generator).GenerateAsync(TestRequests.Small(), new GenerationOutput(),
            new Progress<GenerationProgress>(), _ct).SingleAsync(_ct)).Record;

        Assert.Null(entry.BatchId);
        Assert.Null((await _sandbox.History.GetAsync(entry.Id, _ct))!.BatchId);
    }

    [Theory, BothDatabases]
    public async Task Cancelling_a_batch_stops_the_rest_and_keeps_the_images_already_made(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        _generator.HoldAtImage = 2;
        _generator.HoldAfterFirstStep = new TaskCompletionSource().Task;
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small() with { Seeds = [1, 2, 3] }, _ct);

        var running = queue.RunNextAsync("cpu", _ct);
        await _generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
        Assert.True((await queue.CancelAsync(job.Id, _ct)).Cancelled);
        await running.WaitAsync(TestWait.HangGuard);

        var cancelled = (await queue.GetAsync(job.Id, _ct))!;
        Assert.Equal(JobStatus.Cancelled, cancelled.Status);
        var made = Assert.Single(cancelled.ImageIds);
        var entries = (await sandbox.History.ListAsync(10, null, _ct)).Entries;
        Assert.Equal([made], entries.Select(e => e.Id));
        Assert.Equal(1, entries[0].Seed);
        Assert.Single(Directory.EnumerateFiles(sandbox.OutputRoot));
    }

    [Theory, BothDatabases]
    public async Task A_batch_stopped_part_way_makes_only_the_rest_when_it_runs_again(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        _generator.HoldAtImage = 2;
        _generator.HoldAfterFirstStep = new TaskCompletionSource().Task;
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small() with { Seeds = [5, 6, 7] }, _ct);
        using (var stopping = new CancellationTokenSource())
        {
            var running = queue.RunNextAsync("cpu", stopping.Token);
            await _generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
            await stopping.CancelAsync();
            await running.WaitAsync(TestWait.HangGuard);
        }
        Assert.Equal(JobStatus.Interrupted, (await queue.GetAsync(job.Id, _ct))!.Status);

        using var restarted = sandbox.Restart();
        var generator = new FakeImageGenerator();
        var after = restarted.CreateQueue(generator);
        await after.RecoverAsync(_ct);
        Assert.True(await after.RunNextAsync("cpu", _ct));

        var done = (await after.GetAsync(job.Id, _ct))!;
        Assert.Equal(JobStatus.Done, done.Status);
        Assert.Equal([6L, 7], generator.Requests.Single().Seeds);
        var entries = await Task.WhenAll(done.ImageIds.Select(id => restarted.History.GetAsync(id, _ct)));
        Assert.Equal([5L, 6, 7], entries.Select(e => e!.Seed));
        Assert.Single(entries.Select(e => e!.BatchId).Distinct());
        Assert.Equal(3, (await restarted.History.ListAsync(10, null, _ct)).Entries.Count);
    }

    [Fact]
    public async Task The_users_copies_of_a_batch_are_named_by_seed_beside_the_path_asked_for()
    {
        var folder = Path.Combine(_sandbox.Root, "mine");
        var outcomes = await _sandbox.CreateGeneration(_generator).GenerateAsync(TestRequests.Small() with { Seeds = [3, 8] },
            new GenerationOutput { History = false, CopyTo = Path.Combine(folder, "fox.png") }, new Progress<GenerationProgress>(), _ct)
            .ToListAsync(_ct);

        Assert.Equal([Path.Combine(folder, "fox_seed_3.png"), Path.Combine(folder, "fox_seed_8.png")], outcomes.Select(o => o.CopyPath));
        Assert.All(outcomes, o => Assert.True(File.Exists(o.CopyPath)));
        Assert.False(Directory.Exists(_sandbox.OutputRoot) && Directory.EnumerateFiles(_sandbox.OutputRoot).Any());
    }
}
