using System.Runtime.CompilerServices;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.Loras;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using GenerationStage = FluxStudio.Engine.Pipeline.GenerationStage;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.App.Tests.Generation;

public sealed class GenerationQueueTests
{
    private readonly FakeImageGenerator _generator = new();
    private readonly CancellationToken _ct = CancellationToken.None;

    private async Task RunUntilEmptyAsync(StudioQueue queue)
    {
        while (await queue.RunNextAsync("cpu", _ct))
        {
        }
    }

    [Theory, BothDatabases]
    public async Task A_job_runs_to_a_history_entry_with_the_prompt_and_seed_actually_used(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        Directory.CreateDirectory(sandbox.LoraFolder);
        File.WriteAllBytes(Path.Combine(sandbox.LoraFolder, "fox.safetensors"), [0]);
        File.WriteAllText(Path.Combine(sandbox.LoraFolder, LoraCatalog.InfoFileName),
            """[{"file_name": "fox.safetensors", "description": "", "activation_keyword": "foxstyle"}]""");
        var queue = sandbox.CreateQueue(_generator);

        var request = TestRequests.Small("a fox") with
        {
            Seed = 0, Model = Engine.Models.FluxVariant.Dev, Guidance = 2.5, Steps = 3, Quantize = 8, Metadata = true,
            Loras = [new LoraSelection("fox.safetensors", 0.9)],
        };
        var job = await queue.EnqueueAsync(request, _ct);
        Assert.Equal(JobStatus.Queued, job.Status);

        Assert.True(await queue.RunNextAsync("cpu", _ct));
        Assert.False(await queue.RunNextAsync("cpu", _ct));

        var done = await queue.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Done, done!.Status);
        Assert.Equal("cpu", done.Device);
        Assert.Equal(1, done.Attempts);
        var entry = await sandbox.History.GetAsync(done.ImageId!.Value, _ct);
        Assert.NotNull(entry);
        Assert.Equal("foxstyle, a fox", entry.Prompt);
        Assert.Equal("foxstyle, a fox", _generator.Requests.Single().Prompt);
        Assert.NotEqual(0, entry.Seed);
        Assert.Equal(_generator.Requests.Single().Seed, entry.Seed);
        Assert.Equal([Path.Combine(sandbox.LoraFolder, "fox.safetensors")], entry.LoraPaths);
        // The job keeps the request as the user gave it.
        Assert.Equal(request, done.Request);
    }

    [Theory, BothDatabases]
    public async Task Jobs_run_first_in_first_out(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(_generator);
        foreach (var prompt in new[] { "one", "two", "three" })
            await queue.EnqueueAsync(TestRequests.Small(prompt), _ct);

        Assert.Equal(["one", "two", "three"], (await queue.ListActiveAsync(_ct)).Select(j => j.Request.Prompt));
        await RunUntilEmptyAsync(queue);

        Assert.Equal(["one", "two", "three"], _generator.Requests.Select(r => r.Prompt));
        Assert.Empty(await queue.ListActiveAsync(_ct));
    }

    [Theory, BothDatabases]
    public async Task The_queue_refuses_jobs_beyond_its_maximum_length_with_a_clear_message(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        Assert.Equal(20, new StudioOptions().Queue.MaxLength);
        sandbox.Options.Queue.MaxLength = 3;
        var queue = sandbox.CreateQueue(_generator);
        for (var i = 0; i < 3; i++)
            await queue.EnqueueAsync(TestRequests.Small($"job {i}"), _ct);

        var full = await Assert.ThrowsAsync<QueueFullException>(() => queue.EnqueueAsync(TestRequests.Small("one too many"), _ct));
        Assert.Contains("The queue is full (3 jobs", full.Message);

        await queue.RunNextAsync("cpu", _ct);
        await queue.EnqueueAsync(TestRequests.Small("fits again"), _ct);
        Assert.Equal(3, (await queue.ListActiveAsync(_ct)).Count);
    }

    [Theory, BothDatabases]
    public async Task The_length_limit_holds_when_many_callers_enqueue_at_once(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        sandbox.Options.Queue.MaxLength = 5;
        var queue = sandbox.CreateQueue(_generator);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            try
            {
                await queue.EnqueueAsync(TestRequests.Small($"job {i}"), _ct);
                return true;
            }
            catch (QueueFullException)
            {
                return false;
            }
        })));

        Assert.Equal(5, attempts.Count(accepted => accepted));
        Assert.Equal(5, (await queue.ListActiveAsync(_ct)).Count);
    }

    [Theory, BothDatabases]
    public async Task An_invalid_request_is_refused_and_nothing_is_queued(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(_generator);

        var error = await Assert.ThrowsAsync<RequestValidationException>(() => queue.EnqueueAsync(TestRequests.Small() with { Width = 50 }, _ct));

        Assert.Contains("Width", error.Errors.Keys);
        Assert.Empty(await queue.ListRecentAsync(10, _ct));
    }

    [Theory, BothDatabases]
    public async Task A_queued_job_can_be_cancelled_and_never_runs(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(_generator);
        var first = await queue.EnqueueAsync(TestRequests.Small("cancel me"), _ct);
        await queue.EnqueueAsync(TestRequests.Small("keep me"), _ct);

        var result = await queue.CancelAsync(first.Id, _ct);
        await RunUntilEmptyAsync(queue);

        Assert.True(result.Cancelled);
        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(first.Id, _ct))!.Status);
        Assert.Equal(["keep me"], _generator.Requests.Select(r => r.Prompt));
        Assert.False((await queue.CancelAsync(first.Id, _ct)).Cancelled);
        Assert.Contains("no job", (await queue.CancelAsync(999, _ct)).Message);
    }

    [Theory, BothDatabases]
    public async Task A_running_job_can_be_cancelled_and_leaves_nothing_behind(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var hold = new TaskCompletionSource();
        _generator.HoldAfterFirstStep = hold.Task;
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small("long job"), _ct);

        var running = queue.RunNextAsync("cpu", _ct);
        await _generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
        Assert.Equal(JobStatus.Running, (await queue.GetAsync(job.Id, _ct))!.Status);
        var result = await queue.CancelAsync(job.Id, _ct);
        Assert.True(await running);

        Assert.True(result.Cancelled);
        Assert.Equal(JobStatus.Cancelled, (await queue.GetAsync(job.Id, _ct))!.Status);
        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.False(Directory.Exists(sandbox.OutputRoot) && Directory.EnumerateFileSystemEntries(sandbox.OutputRoot).Any());
    }

    [Theory, BothDatabases]
    public async Task Subscribers_see_each_state_and_every_step_in_order(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(_generator);
        using var stop = new CancellationTokenSource();
        var events = queue.SubscribeAsync(stop.Token);
        var handlerEvents = new List<QueueEvent>();
        queue.Changed += (_, e) => handlerEvents.Add(e);

        var job = await queue.EnqueueAsync(TestRequests.Small() with { Steps = 3 }, _ct);
        await queue.RunNextAsync("cpu", _ct);

        var seen = new List<QueueEvent>();
        await foreach (var e in events)
        {
            seen.Add(e);
            if (e.Kind == QueueEventKind.Completed)
                break;
        }

        Assert.Equal(
            [QueueEventKind.Queued, QueueEventKind.Started, QueueEventKind.Progress, QueueEventKind.Progress, QueueEventKind.Progress,
                QueueEventKind.ImageSaved, QueueEventKind.Completed],
            seen.Select(e => e.Kind));
        Assert.All(seen, e => Assert.Equal(job.Id, e.JobId));
        Assert.Equal([(1, 3), (2, 3), (3, 3)], seen.Where(e => e.Kind == QueueEventKind.Progress).Select(e => (e.Step!.Value, e.TotalSteps!.Value)));
        Assert.Equal([1, 2, 3], seen.Single(e => e.Step == 3).PreviewPng);
        Assert.Equal((await queue.GetAsync(job.Id, _ct))!.ImageId, seen[^1].ImageId);
        Assert.Equal(seen.Select(e => e.Kind), handlerEvents.Select(e => e.Kind));
    }

    [Fact]
    public async Task Progress_events_carry_the_engine_stage_and_a_download_but_no_step_while_the_model_loads()
    {
        var download = new DownloadProgress("org/model", "vae/model.safetensors", 2, 5, 10, 20, 30, 100);
        var generator = new StagedGenerator(
        [
            new GenerationProgress(0, 0) { Stage = GenerationStage.LoadingModel },
            new GenerationProgress(2, 5) { Stage = GenerationStage.LoadingModel, Download = download },
            new GenerationProgress(0, 2) { Stage = GenerationStage.EncodingPrompt },
            new GenerationProgress(0, 2) { Stage = GenerationStage.Denoising },
            new GenerationProgress(1, 2, [7]) { Stage = GenerationStage.Denoising },
            new GenerationProgress(2, 2, [8]) { Stage = GenerationStage.Denoising },
            new GenerationProgress(2, 2) { Stage = GenerationStage.Decoding },
            new GenerationProgress(2, 2) { Stage = GenerationStage.Done },
        ]);
        using var sandbox = new StudioSandbox();
        var queue = sandbox.CreateQueue(generator);
        var seen = new List<QueueEvent>();
        queue.Changed += (_, e) => seen.Add(e);

        await queue.EnqueueAsync(TestRequests.Small() with { Steps = 2 }, _ct);
        await queue.RunNextAsync("cpu", _ct);

        var progress = seen.Where(e => e.Kind == QueueEventKind.Progress).ToList();
        Assert.Equal(
            [GenerationStage.LoadingModel, GenerationStage.LoadingModel, GenerationStage.EncodingPrompt, GenerationStage.Denoising,
                GenerationStage.Denoising, GenerationStage.Denoising, GenerationStage.Decoding],
            progress.Select(e => e.Stage!.Value));
        Assert.All(progress.Take(2), e => Assert.Null(e.Step));
        Assert.Same(download, progress[1].Download);
        Assert.Equal([(0, 2), (0, 2), (1, 2), (2, 2), (2, 2)], progress.Skip(2).Select(e => (e.Step!.Value, e.TotalSteps!.Value)));
        Assert.Equal([8], progress[5].PreviewPng);
        Assert.Equal(QueueEventKind.Completed, seen[^1].Kind);
    }

    /// <summary>Reports the given progress, in order, then draws the image.</summary>
    private sealed class StagedGenerator(IReadOnlyList<GenerationProgress> reports) : IImageGenerator
    {
        public async IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress,
            [EnumeratorCancellation] CancellationToken ct)
        {
            foreach (var report in reports)
                progress.Report(report);
            await Task.Yield();
            yield return FakeImageGenerator.Render(request, "cpu");
        }
    }

    [Theory, BothDatabases]
    public async Task A_failing_generator_fails_the_job_with_its_reason_and_leaves_history_untouched(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var earlier = await sandbox.SaveImageAsync("earlier", seed: 3);
        _generator.Failure = new InvalidOperationException("The model folder has no transformer weights.");
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small(), _ct);

        await queue.RunNextAsync("cpu", _ct);

        var failed = await queue.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Failed, failed!.Status);
        Assert.Equal("The model folder has no transformer weights.", failed.Error);
        Assert.Equal([earlier.Id], (await sandbox.History.ListAsync(10, null, _ct)).Entries.Select(e => e.Id));
        Assert.Single(Directory.EnumerateFiles(sandbox.OutputRoot));
    }

    [Theory, BothDatabases]
    public async Task A_failing_save_fails_the_job_and_leaves_history_and_files_consistent(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == "save:image-temp-written")
                throw new IOException("No space left on device.");
        };
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small() with { Metadata = true }, _ct);

        await queue.RunNextAsync("cpu", _ct);

        Assert.Equal("No space left on device.", (await queue.GetAsync(job.Id, _ct))!.Error);
        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.Empty(Directory.EnumerateFiles(sandbox.OutputRoot));
        Assert.False((await sandbox.History.ReconcileAsync(_ct)).Changed);
    }

    [Fact]
    public async Task Running_out_of_memory_fails_the_job_with_one_sentence_in_the_terms_of_the_surface()
    {
        using var sandbox = new StudioSandbox();
        _generator.Failure = LibTorchAllocationFailure();
        Assert.Contains("frame #", _generator.Failure.Message);
        var queue = sandbox.CreateQueue(_generator, memoryWording: new BracketWording());
        var job = await queue.EnqueueAsync(TestRequests.Small(), _ct);

        await queue.RunNextAsync("cpu", _ct);

        Assert.Equal("The 48 × 32 image ran out of memory while generating; it would likely fit [32 × 16].",
            (await queue.GetAsync(job.Id, _ct))!.Error);
        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
    }

    [Fact]
    public async Task Running_out_of_memory_while_saving_says_so_and_leaves_history_and_files_consistent()
    {
        using var sandbox = new StudioSandbox();
        sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == "save:image-temp-written")
                throw new OutOfMemoryException();
        };
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small() with { Width = 1024, Height = 768 }, _ct);

        await queue.RunNextAsync("cpu", _ct);

        Assert.Equal("The 1024 × 768 image ran out of memory while saving the image; it would likely fit at 720 × 528.",
            (await queue.GetAsync(job.Id, _ct))!.Error);
        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.Empty(Directory.EnumerateFiles(sandbox.OutputRoot));
    }

    /// <summary>What libtorch throws when an allocation fails, native frames and all.</summary>
    private static Exception LibTorchAllocationFailure()
    {
        try
        {
            TorchSharp.torch.empty([1L << 48]).Dispose();
        }
        catch (Exception e)
        {
            return e;
        }
        throw new InvalidOperationException("libtorch allocated a petabyte");
    }

    private sealed class BracketWording : IMemoryRemedyWording
    {
        public string Describe(MemoryRemedy remedy) => $"[{remedy.Width} × {remedy.Height}]";
    }

    [Theory, BothDatabases]
    public async Task A_missing_generator_fails_the_job_with_what_to_do(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var queue = sandbox.CreateQueue(null);
        var job = await queue.EnqueueAsync(TestRequests.Small(), _ct);

        await queue.RunNextAsync("cuda:0", _ct);

        Assert.Contains("No image generator is installed for device \"cuda:0\"", (await queue.GetAsync(job.Id, _ct))!.Error);
    }

    [Theory, BothDatabases]
    public async Task Queued_jobs_run_after_a_restart(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var before = sandbox.CreateQueue(_generator);
        await before.EnqueueAsync(TestRequests.Small("first"), _ct);
        await before.EnqueueAsync(TestRequests.Small("second"), _ct);

        using var restarted = sandbox.Restart();
        var generator = new FakeImageGenerator();
        var after = restarted.CreateQueue(generator);
        Assert.Equal(0, await after.RecoverAsync(_ct));
        await RunUntilEmptyAsync(after);

        Assert.Equal(["first", "second"], generator.Requests.Select(r => r.Prompt));
        Assert.Equal(2, (await restarted.History.ListAsync(10, null, _ct)).Entries.Count);
    }

    [Theory, BothDatabases]
    public async Task A_job_running_at_a_crash_is_requeued_once_then_marked_failed_with_the_reason(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var crashes = new List<(Task Run, TaskCompletionSource Hold)>();
        async Task<long?> CrashWhileRunningAsync(StudioSandbox process)
        {
            var hold = new TaskCompletionSource();
            var generator = new FakeImageGenerator { HoldAfterFirstStep = hold.Task };
            var queue = process.CreateQueue(generator);
            var run = queue.RunNextAsync("cpu", _ct);
            await Task.WhenAny(generator.FirstStepReached.Task, run).WaitAsync(TestWait.HangGuard);
            crashes.Add((run, hold));
            return run.IsCompleted ? null : (await queue.ListActiveAsync(_ct)).Single(j => j.Status == JobStatus.Running).Id;
        }

        var first = sandbox.CreateQueue(_generator);
        var job = await first.EnqueueAsync(TestRequests.Small("unlucky"), _ct);
        await first.EnqueueAsync(TestRequests.Small("next in line"), _ct);
        Assert.Equal(job.Id, await CrashWhileRunningAsync(sandbox));

        using var second = sandbox.Restart();
        var recovery = second.CreateQueue(_generator);
        var requeued = new List<QueueEvent>();
        recovery.Changed += (_, e) => requeued.Add(e);
        Assert.Equal(1, await recovery.RecoverAsync(_ct));
        Assert.Equal(JobStatus.Queued, (await recovery.GetAsync(job.Id, _ct))!.Status);
        Assert.Equal([new QueueEvent(QueueEventKind.Requeued, job.Id)], requeued);
        // It keeps its place at the head of the queue.
        Assert.Equal(job.Id, await CrashWhileRunningAsync(second));

        using var third = sandbox.Restart();
        var last = third.CreateQueue(_generator);
        Assert.Equal(1, await last.RecoverAsync(_ct));
        var failed = await last.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Failed, failed!.Status);
        Assert.Equal(2, failed.Attempts);
        Assert.Contains("crashed or lost the database while this job ran, 2 times", failed.Error);

        Assert.True(await last.RunNextAsync("cpu", _ct));
        Assert.Equal("next in line", _generator.Requests.Single().Prompt);
        Assert.Empty(await last.ListActiveAsync(_ct));
        Assert.Single((await third.History.ListAsync(10, null, _ct)).Entries);

        // Let the abandoned runs end the way a dead process does: without touching anything.
        foreach (var (run, hold) in crashes)
        {
            hold.SetException(new SimulatedCrashException("test end"));
            await Assert.ThrowsAsync<SimulatedCrashException>(() => run);
        }
        Assert.Equal(JobStatus.Failed, (await last.GetAsync(job.Id, _ct))!.Status);
    }

    [Theory, BothDatabases]
    public async Task A_job_stopped_by_shutdown_is_interrupted_and_runs_again_at_the_next_start(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var hold = new TaskCompletionSource();
        _generator.HoldAfterFirstStep = hold.Task;
        var queue = sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(TestRequests.Small("interrupted"), _ct);
        using var stopping = new CancellationTokenSource();

        var running = queue.RunNextAsync("cpu", stopping.Token);
        await _generator.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
        await stopping.CancelAsync();
        await running;

        var interrupted = await queue.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Interrupted, interrupted!.Status);
        Assert.Contains("runs again when a worker is free", interrupted.Error);

        using var restarted = sandbox.Restart();
        var generator = new FakeImageGenerator();
        var after = restarted.CreateQueue(generator);
        await after.RecoverAsync(_ct);
        Assert.True(await after.RunNextAsync("cpu", _ct));

        var done = await after.GetAsync(job.Id, _ct);
        Assert.Equal((JobStatus.Done, 2), (done!.Status, done.Attempts));
        Assert.Null(done.Error);
    }

    [Theory, BothDatabases]
    public async Task Each_device_has_its_own_worker_and_generator(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var gpu0 = new FakeImageGenerator();
        var gpu1 = new FakeImageGenerator();
        var hold = new TaskCompletionSource();
        gpu0.HoldAfterFirstStep = hold.Task;
        gpu1.HoldAfterFirstStep = hold.Task;
        var queue = sandbox.CreateQueue(null, services =>
        {
            services.AddKeyedSingleton<IImageGenerator>("gpu0", gpu0);
            services.AddKeyedSingleton<IImageGenerator>("gpu1", gpu1);
        });
        var a = await queue.EnqueueAsync(TestRequests.Small("a"), _ct);
        var b = await queue.EnqueueAsync(TestRequests.Small("b"), _ct);

        var first = queue.RunNextAsync("gpu0", _ct);
        await gpu0.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
        var second = queue.RunNextAsync("gpu1", _ct);
        // Both jobs are mid-generation at once, one per device.
        await gpu1.FirstStepReached.Task.WaitAsync(TestWait.HangGuard);
        hold.SetResult();
        await Task.WhenAll(first, second);

        Assert.Equal(("gpu0", JobStatus.Done), ((await queue.GetAsync(a.Id, _ct))!.Device, (await queue.GetAsync(a.Id, _ct))!.Status));
        Assert.Equal(("gpu1", JobStatus.Done), ((await queue.GetAsync(b.Id, _ct))!.Device, (await queue.GetAsync(b.Id, _ct))!.Status));
        Assert.Equal(["a"], gpu0.Requests.Select(r => r.Prompt));
        Assert.Equal(["b"], gpu1.Requests.Select(r => r.Prompt));
    }
}
