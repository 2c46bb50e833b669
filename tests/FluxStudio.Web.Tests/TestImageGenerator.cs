using System.Runtime.CompilerServices;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using RgbImage = FluxStudio.Engine.Pipeline.RgbImage;

namespace FluxStudio.Web.Tests;

/// <summary>
/// Draws a grey image of the requested size for each seed, reporting the denoising's start and each step. When <see cref="Hold"/> is set, it waits after the
/// first step until <see cref="Release"/> or cancellation, so tests can watch and cancel a running job.
/// </summary>
public sealed class TestImageGenerator : IImageGenerator
{
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Hold { get; set; }

    public TaskCompletionSource FirstStepReported { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    public void Reset()
    {
        _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        FirstStepReported = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var steps = request.ExpectedSteps;
        var seeds = request.Seeds.Count > 0 ? request.Seeds : [request.Seed];
        for (var image = 1; image <= seeds.Count; image++)
        {
            // As the engine does: the denoising's start, then each step with its preview.
            progress.Report(new GenerationProgress(0, steps) { Image = image, Images = seeds.Count });
            for (var step = 1; step <= steps; step++)
            {
                ct.ThrowIfCancellationRequested();
                progress.Report(new GenerationProgress(step, steps, [0x89, 0x50, 0x4E, 0x47]) { Image = image, Images = seeds.Count });
                if (step == 1 && image == 1)
                {
                    FirstStepReported.TrySetResult();
                    if (Hold)
                        await _release.Task.WaitAsync(ct);
                }
            }
            var pixels = new byte[request.Width * request.Height * 3];
            Array.Fill(pixels, (byte)(128 + image));
            yield return FakeRuns.Of(request with { Seed = seeds[image - 1] }, new RgbImage(request.Width, request.Height, pixels), "test", "float32");
        }
    }
}
