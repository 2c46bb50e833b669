using System.Runtime.CompilerServices;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Pipeline;
using GenerationProgress = FluxStudio.App.Generation.GenerationProgress;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>
/// The real engine behind a gate: while <see cref="Close"/>d, a job that starts reports "loading the model" and waits
/// until <see cref="Open"/> or its cancellation, so a test can reload the page or queue a second job while one runs.
/// </summary>
public sealed class GatedImageGenerator(IImageGenerator engine) : IImageGenerator
{
    private TaskCompletionSource? _gate;

    /// <summary>Completed when a job has reached the closed gate.</summary>
    public TaskCompletionSource Reached { get; private set; } = NewSignal();

    public void Close()
    {
        _gate = NewSignal();
        Reached = NewSignal();
    }

    public void Open() => Interlocked.Exchange(ref _gate, null)?.TrySetResult();

    public async IAsyncEnumerable<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress,
        [EnumeratorCancellation] CancellationToken ct)
    {
        if (_gate is { } gate)
        {
            progress.Report(new GenerationProgress(0, 0) { Stage = GenerationStage.LoadingModel });
            Reached.TrySetResult();
            await gate.Task.WaitAsync(ct);
        }
        await foreach (var image in engine.GenerateAsync(request, progress, ct))
            yield return image;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
