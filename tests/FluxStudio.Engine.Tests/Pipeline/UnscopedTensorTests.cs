using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Tests.ControlNet;
using FluxStudio.Engine.Tests.Training;
using FluxStudio.Engine.Training;
using TorchSharp;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>
/// TorchSharp frees a tensor nobody disposed in its finalizer, and a call's result handed straight to another call is
/// collectable while libtorch still reads it: a collection on another thread then frees it mid-call and crashes the
/// process (reproduced with a probe). A dispose scope holds every tensor made inside it, so the engine's entry points
/// must make none outside one, whatever scope their caller is in. Each test runs an entry point the studio calls on a
/// thread of its own, where no scope is open, and counts through TorchSharp's per-thread statistics the tensors made
/// outside any scope. Their results leave through <c>MoveToOuterDisposeScope</c>, which does not count as made outside.
/// </summary>
public sealed class UnscopedTensorTests(ControlNetTinyModel tiny) : IClassFixture<ControlNetTinyModel>
{
    private readonly FluxPipeline _pipeline = new(tiny.Model);

    [Fact]
    public async Task AGenerationWithControlNetAndAStartImageMakesNoTensorOutsideAScope()
    {
        var run = ControlNetTiny.RunNames.First();
        var control = RgbImageFile.Read(ControlNetTiny.RunControlImage());
        var options = ControlNetTiny.RunOptions(run, control) with { InitImage = new InitImage(control, 0.5) };

        Assert.Equal(0, await MadeOutsideAScope(() => _pipeline.Generate(options)));
    }

    [Fact]
    public async Task EncodingAPromptMakesNoTensorOutsideAScope()
    {
        TextConditioning? text = null;

        Assert.Equal(0, await MadeOutsideAScope(() => text = _pipeline.EncodePrompt(ControlNetTiny.RunParameters.Options.Prompt)));
        Assert.Equal(3, text!.Tensors.Count(tensor => !tensor.IsInvalid));
        text.Dispose();
    }

    [Fact]
    public async Task StartingATrainerAndTrainingAStepMakeNoTensorOutsideAScope()
    {
        using var fixture = TrainingTiny.Open();
        using var transformer = fixture.LoadTransformer();
        using var batch = fixture.LoadBatch();
        LoraTrainer? trainer = null;
        try
        {
            Assert.Equal(0, await MadeOutsideAScope(() => trainer = LoraTrainer.Create(transformer, fixture.Config)));
            Assert.Equal(0, await MadeOutsideAScope(() => trainer!.Step(batch.Examples, batch.Draws)));
            Assert.Equal(1, trainer!.Iteration);
        }
        finally
        {
            trainer?.Dispose();
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> as the studio runs engine work (<see cref="ComputeThreads.Run{T}(Func{T}, CancellationToken, string)"/>),
    /// on a new thread where no dispose scope is open; the tensors it made outside one.
    /// </summary>
    private static Task<long> MadeOutsideAScope(Action work) => ComputeThreads.Run(() =>
    {
        DisposeScopeManager.Statistics.Reset();
        work();
        return DisposeScopeManager.Statistics.CreatedOutsideScopeCount;
    });
}
