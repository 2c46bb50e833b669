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

    [Fact]
    public async Task AWatchOnAReloadedPageAttachesToTheRunningJobAndCancelsIt()
    {
        _factory.Generator.Hold = true;
        await _watch.SubmitAsync(Small(), CancellationToken.None);
        await _factory.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));

        using var reloaded = _factory.Services.CreateScope();
        var watch = reloaded.ServiceProvider.GetRequiredService<GenerationWatch>();
        await watch.AttachAsync(_watch.JobId!.Value, CancellationToken.None);

        Assert.Equal((_watch.JobId, true, "running"), (watch.JobId, watch.Running, watch.State));
        await watch.CancelAsync(CancellationToken.None);
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            while (watch.Running)
                await Task.Delay(20, limit.Token);
        Assert.Equal("cancelled", watch.State);
    }

    [Fact]
    public async Task AttachingToAFinishedJobShowsItsImageAndToAnUnknownOneChangesNothing()
    {
        await _watch.SubmitAsync(Small(), CancellationToken.None);
        await WaitEndedAsync();

        using var reloaded = _factory.Services.CreateScope();
        var watch = reloaded.ServiceProvider.GetRequiredService<GenerationWatch>();
        await watch.AttachAsync(987_654, CancellationToken.None);
        Assert.Null(watch.JobId);
        await watch.AttachAsync(_watch.JobId!.Value, CancellationToken.None);

        Assert.Equal(("done", false, _watch.ResultImageId), (watch.State, watch.Running, watch.ResultImageId));
    }

    [Fact]
    public async Task ABatchShowsWhichImageIsBeingMadeAndEachResultAsItIsSaved()
    {
        await _watch.SubmitAsync(Small() with { BatchCount = 3 }, CancellationToken.None);
        Assert.Equal(3, _watch.Images);
        await WaitEndedAsync();

        Assert.Equal("done", _watch.State);
        Assert.Equal((3, 3), (_watch.Image, _watch.Images));
        Assert.Equal([3L, 4, 5], _watch.Results.Select(r => r.Seed));
        Assert.Equal(_watch.Results[^1].Id, _watch.ResultImageId);
        Assert.All(_watch.Results, r => Assert.Equal($"/api/images/{r.Id}", r.ImageUrl));
        Assert.NotNull(Assert.Single(_watch.Results.Select(r => r.BatchId).Distinct()));
        Assert.All(_watch.Results, r => Assert.Null(r.ControlNetCannyUrl));
    }

    [Fact]
    public async Task AControlNetResultLinksItsEdgeMap()
    {
        var pictures = _scope.ServiceProvider.GetRequiredService<InputPictures>();
        var reference = (await pictures.UploadAsync(new MemoryStream(GenerationInputsApiTests.Picture()), CancellationToken.None)).Image!;

        await _watch.SubmitAsync(Small() with { ControlNetImagePath = reference.Path }, CancellationToken.None);
        await WaitEndedAsync();

        var result = Assert.Single(_watch.Results);
        Assert.Equal($"/api/images/{result.Id}/controlnet-canny", result.ControlNetCannyUrl);
    }

    [Fact]
    public async Task APicturePathTheStudioDidNotKeepIsRefused()
    {
        var elsewhere = Path.Combine(_factory.DataRoot, "elsewhere.png");
        await File.WriteAllBytesAsync(elsewhere, GenerationInputsApiTests.Picture());

        await _watch.SubmitAsync(Small() with { InitImagePath = elsewhere, ControlNetImagePath = "/etc/passwd" }, CancellationToken.None);

        Assert.Null(_watch.JobId);
        Assert.Contains("must be uploaded", _watch.Errors["InitImagePath"]);
        Assert.Contains("must be uploaded", _watch.Errors["ControlNetImagePath"]);
    }
}
