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

    [Fact]
    public async Task ImageToImageAndBatchesCountTheStepsActuallyRunForEveryImageLeft()
    {
        var tracker = new GenerationProgressTracker(_events, _time);
        await tracker.StartAsync(CancellationToken.None);
        void ReportImage(GenerationStage stage, int step, int image) =>
            _events.Publish(new QueueEvent(QueueEventKind.Progress, 7) { Stage = stage, Step = step, TotalSteps = 10, Image = image, Images = 3 });

        // Image to image at strength 0.4 starts at step 4 of 10.
        ReportImage(GenerationStage.Denoising, 4, 1);
        Assert.Equal("Image 1 of 3: denoising from step 4 of 10", JobText.Stage(tracker.Get(7)));
        _time.Now += TimeSpan.FromSeconds(6);
        ReportImage(GenerationStage.Denoising, 7, 1);
        // 2 s a step: 3 steps left of this image and 6 of each of the two others.
        Assert.Equal(TimeSpan.FromSeconds(30), tracker.Get(7)!.Remaining(_time.Now));
        Assert.Equal("Image 1 of 3: step 7 of 10", JobText.Stage(tracker.Get(7)));

        ReportImage(GenerationStage.Decoding, 10, 1);
        _time.Now += TimeSpan.FromSeconds(5);
        ReportImage(GenerationStage.Denoising, 4, 2);
        Assert.Null(tracker.Get(7)!.Remaining(_time.Now));
        _time.Now += TimeSpan.FromSeconds(3);
        ReportImage(GenerationStage.Denoising, 5, 2);
        // The second image's pace, 3 s a step: 5 steps of it and 6 of the third.
        Assert.Equal(TimeSpan.FromSeconds(33), tracker.Get(7)!.Remaining(_time.Now));
        await tracker.StopAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData(JobStatus.Queued, 1, 0, "")]
    [InlineData(JobStatus.Queued, 4, 0, ", 4 images")]
    [InlineData(JobStatus.Done, 4, 4, ", 4 images")]
    [InlineData(JobStatus.Cancelled, 4, 2, ", 2 of 4 images")]
    [InlineData(JobStatus.Failed, 3, 0, ", 0 of 3 images")]
    public void ABatchJobSaysHowManyImagesItMakesOrMade(JobStatus status, int batch, int made, string expected)
    {
        var job = new GenerationJob
        {
            Id = 1, Status = status, CreatedAt = _time.Now, ImageIds = [.. Enumerable.Range(1, made).Select(i => (long)i)],
            Request = new GenerationRequest { Prompt = "boats", BatchCount = batch },
        };
        Assert.Equal(expected, JobText.Images(job));
    }

    [Theory]
    [InlineData(7, "0:07")]
    [InlineData(135, "2:15")]
    [InlineData(3723, "1:02:03")]
    public void DurationsReadAsAClock(int seconds, string expected) =>
        Assert.Equal(expected, JobText.Duration(TimeSpan.FromSeconds(seconds)));
}
