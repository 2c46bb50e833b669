using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Web.Services;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Web.Tests;

/// <summary>The Generate tab's job-watching state machine, driven through the real queue without a browser.</summary>
public sealed class GenerationWatchTests : IDisposable
{
    private readonly StudioFactory _factory = new();
    private readonly IServiceScope _scope;
    private readonly GenerationWatch _watch;
    private int _renders;

    public GenerationWatchTests()
    {
        _scope = _factory.Services.CreateScope();
        _watch = _scope.ServiceProvider.GetRequiredService<GenerationWatch>();
        _watch.Changed += () =>
        {
            Interlocked.Increment(ref _renders);
            return Task.CompletedTask;
        };
    }

    public void Dispose()
    {
        _scope.Dispose();
        _factory.Dispose();
    }

    private static GenerationRequest Small(int steps = 2) => new() { Prompt = "a fox", Steps = steps, Seed = 3, Width = 48, Height = 32 };

    /// <summary>Waits until the job has ended; the limit only keeps a broken build from hanging the run.</summary>
    private async Task WaitEndedAsync()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (_watch.Running)
            await Task.Delay(20, limit.Token);
    }

    [Fact]
    public async Task FollowsAJobFromSubmissionToItsImage()
    {
        await _watch.SubmitAsync(Small(steps: 3), CancellationToken.None);
        Assert.NotNull(_watch.JobId);
        await WaitEndedAsync();

        Assert.Equal("done", _watch.State);
        Assert.Equal((3, 3), (_watch.Step, _watch.TotalSteps));
        Assert.Null(_watch.Failure);
        var entry = await _factory.Services.GetRequiredService<HistoryStore>().GetAsync(_watch.ResultImageId!.Value, CancellationToken.None);
        Assert.Equal("a fox", entry!.Prompt);
        Assert.True(_renders > 0, "the page was asked to render");
        Assert.False(_watch.Submitting);
    }

    [Fact]
    public async Task AnInvalidRequestShowsFieldErrorsAndQueuesNothing()
    {
        await _watch.SubmitAsync(Small() with { Width = 50, Prompt = "" }, CancellationToken.None);

        Assert.Equal(["Prompt", "Width"], _watch.Errors.Keys.Order());
        Assert.Null(_watch.JobId);
        _watch.ClearErrors();
        Assert.Empty(_watch.Errors);
    }

    [Fact]
    public async Task ARunningJobShowsItsProgressAndCanBeCancelled()
    {
        _factory.Generator.Hold = true;
        await _watch.SubmitAsync(Small(), CancellationToken.None);
        await _factory.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            while (_watch.Step < 1)
                await Task.Delay(20, limit.Token);

        Assert.Equal("running", _watch.State);
        Assert.StartsWith("data:image/png;base64,", _watch.Preview);
        await _watch.CancelAsync(CancellationToken.None);
        await WaitEndedAsync();

        Assert.Equal("cancelled", _watch.State);
        Assert.Equal("The generation was cancelled.", _watch.Failure);
        Assert.Null(_watch.ResultImageId);
    }
}
