using FluxStudio.App.Generation;
using FluxStudio.Web.Services;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Web.Tests;

/// <summary>The queue panel's jobs, read from the job table: the same after a reload or a restart.</summary>
public sealed class JobBoardTests
{
    private static GenerationRequest Small(string prompt) => new() { Prompt = prompt, Steps = 2, Seed = 3, Width = 48, Height = 32 };

    private static async Task WaitAsync(Func<bool> done)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!done())
            await Task.Delay(20, limit.Token);
    }

    [Fact]
    public async Task ListsEveryJobWithItsStateAndStillDoesAfterARestart()
    {
        long doneId, waitingId;
        string dataRoot;
        using (var first = new StudioFactory { KeepDataRoot = true })
        {
            dataRoot = first.DataRoot;
            var queue = first.Services.GetRequiredService<GenerationQueue>();
            await using var scope = first.Services.CreateAsyncScope();
            var board = scope.ServiceProvider.GetRequiredService<JobBoard>();
            var changes = 0;
            board.Changed += () => { Interlocked.Increment(ref changes); return Task.CompletedTask; };
            await board.StartAsync(CancellationToken.None);

            doneId = (await queue.EnqueueAsync(Small("done before the restart"), CancellationToken.None)).Id;
            await WaitAsync(() => board.Find(doneId)?.Job.Status == JobStatus.Done);
            first.Generator.Hold = true;
            var runningId = (await queue.EnqueueAsync(Small("running at the restart"), CancellationToken.None)).Id;
            await first.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));
            waitingId = (await queue.EnqueueAsync(Small("waiting at the restart"), CancellationToken.None)).Id;
            await WaitAsync(() => board.Find(waitingId) is not null && board.Find(runningId)?.Progress is not null);

            Assert.Equal([waitingId, runningId, doneId], board.Jobs.Select(j => j.Id));
            Assert.Equal([JobStatus.Queued, JobStatus.Running, JobStatus.Done], board.Jobs.Select(j => j.Job.Status));
            Assert.NotNull(board.Find(doneId)!.Job.ImageId);
            Assert.Equal("Step 1 of 2", JobText.Stage(board.Find(runningId)!.Progress));
            Assert.NotNull(board.Find(runningId)!.Elapsed);
            Assert.True(changes > 0);
        }

        using var restarted = new StudioFactory(dataRoot);
        await using var again = restarted.Services.CreateAsyncScope();
        var after = again.ServiceProvider.GetRequiredService<JobBoard>();
        await after.StartAsync(CancellationToken.None);
        // The job the stop interrupted runs again, then the one that waited.
        await WaitAsync(() => after.Jobs.Count == 3 && after.Jobs.All(j => j.Job.Status == JobStatus.Done));
        Assert.Equal(["waiting at the restart", "running at the restart", "done before the restart"],
            after.Jobs.Select(j => j.Job.Request.Prompt));
        Assert.All(after.Jobs, j => Assert.NotNull(j.Job.ImageId));
    }
}
