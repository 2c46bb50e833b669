using System.Runtime.CompilerServices;
using FluxStudio.App.Generation;
using RgbImage = FluxStudio.Engine.Pipeline.RgbImage;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// Stands in for the engine: draws a gradient of the requested size for each seed of the batch, reports each step, and
/// can be held at a step or made to fail so tests can cancel, crash or stop the app mid-job.
/// </summary>
public sealed class FakeImageGenerator : IImageGenerator
{
    private readonly List<GenerationRequest> _requests = [];

    public IReadOnlyList<GenerationRequest> Requests { get { lock (_requests) return _requests.ToList(); } }

    /// <summary>When set, generation waits for this task after the first step of image <see cref="HoldAtImage"/> (its exception is thrown).</summary>
    public Task? HoldAfterFirstStep { get; set; }

    /// <summary>Which image of a batch (from 1) is held and fails.</summary>
    public int HoldAtImage { get; set; } = 1;

    /// <summary>Completed once the first step of image <see cref="HoldAtImage"/> has been reported.</summary>
    public TaskCompletionSource FirstStepReached { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Exception? Failure { get; set; }

    public void Reset() => FirstStepReached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress,
        [EnumeratorCancellation] CancellationToken ct)
    {
        lock (_requests)
            _requests.Add(request);
        var total = request.ExpectedSteps;
        var seeds = request.Seeds.Count > 0 ? request.Seeds : [request.Seed];
        for (var image = 1; image <= seeds.Count; image++)
        {
            for (var step = 1; step <= total; step++)
            {
                ct.ThrowIfCancellationRequested();
                progress.Report(new GenerationProgress(step, total, step == total ? [1, 2, 3] : null) { Image = image, Images = seeds.Count });
                if (step == 1 && image == HoldAtImage)
                {
                    FirstStepReached.TrySetResult();
                    if (HoldAfterFirstStep is { } hold)
                        await hold.WaitAsync(ct);
                }
            }
            if (Failure is not null && image == HoldAtImage)
                throw Failure;
            yield return Render(request with { Seed = seeds[image - 1] }, "cpu");
        }
    }

    public static GeneratedImage Render(GenerationRequest request, string device)
    {
        var rgb = new byte[request.Width * request.Height * 3];
        for (var y = 0; y < request.Height; y++)
        for (var x = 0; x < request.Width; x++)
        {
            var i = (y * request.Width + x) * 3;
            rgb[i] = (byte)(x * 255 / Math.Max(1, request.Width - 1));
            rgb[i + 1] = (byte)(y * 255 / Math.Max(1, request.Height - 1));
            rgb[i + 2] = (byte)(request.Seed % 251);
        }
        return FakeRuns.Of(request, new RgbImage(request.Width, request.Height, rgb), device, "bfloat16", TimeSpan.FromSeconds(1.25));
    }
}
