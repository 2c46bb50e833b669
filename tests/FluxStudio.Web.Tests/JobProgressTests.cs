using FluxStudio.App.Generation;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Web.Services;

namespace FluxStudio.Web.Tests;

/// <summary>What the progress tracker remembers of a running job, and the time left it estimates.</summary>
public sealed class JobProgressTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private readonly ManualTime _time = new();
    private readonly GenerationEvents _events = new();

    private void Report(GenerationStage stage, int? step = null, int? total = null) =>
        _events.Publish(new QueueEvent(QueueEventKind.Progress, 7) { Stage = stage, Step = step, TotalSteps = total });

    [Fact]
    public async Task FollowsTheStagesAndEstimatesTheTimeLeftFromThePaceOfTheSteps()
    {
        var tracker = new GenerationProgressTracker(_events, _time);
        await tracker.StartAsync(CancellationToken.None);

        Report(GenerationStage.LoadingModel);
        Assert.Equal((GenerationStage.LoadingModel, "Loading the model"), (tracker.Get(7)!.Stage, JobText.Stage(tracker.Get(7))));
        Assert.Null(tracker.Get(7)!.Remaining(_time.Now));
        Assert.Null(JobText.Percent(tracker.Get(7)));

        _time.Now += TimeSpan.FromSeconds(30);
        Report(GenerationStage.EncodingPrompt, 0, 10);
        _time.Now += TimeSpan.FromSeconds(2);
        Report(GenerationStage.Denoising, 0, 10);
        _time.Now += TimeSpan.FromSeconds(4);
        Report(GenerationStage.Denoising, 2, 10);

        var progress = tracker.Get(7)!;
        Assert.Equal("Step 2 of 10", JobText.Stage(progress));
        Assert.Equal(20, JobText.Percent(progress));
        // 2 s a step, 8 steps to go; a second later, 15 s.
        Assert.Equal(TimeSpan.FromSeconds(16), progress.Remaining(_time.Now));
        Assert.Equal(TimeSpan.FromSeconds(15), progress.Remaining(_time.Now + TimeSpan.FromSeconds(1)));

        Report(GenerationStage.Decoding, 10, 10);
        Assert.Equal(("Decoding the image", (TimeSpan?)null), (JobText.Stage(tracker.Get(7)), tracker.Get(7)!.Remaining(_time.Now)));

        _events.Publish(new QueueEvent(QueueEventKind.Completed, 7));
        Assert.Null(tracker.Get(7));
        await tracker.StopAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData(7, "0:07")]
    [InlineData(135, "2:15")]
    [InlineData(3723, "1:02:03")]
    public void DurationsReadAsAClock(int seconds, string expected) =>
        Assert.Equal(expected, JobText.Duration(TimeSpan.FromSeconds(seconds)));
}
