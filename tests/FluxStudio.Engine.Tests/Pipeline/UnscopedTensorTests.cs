using FluxStudio.Engine.ControlNet;
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
    public void AGenerationWithControlNetAndAStartImageMakesNoTensorOutsideAScope()
    {
        var run = ControlNetTiny.RunNames.First();
        var control = RgbImageFile.Read(ControlNetTiny.RunControlImage());
        var options = ControlNetTiny.RunOptions(run, control) with { InitImage = new InitImage(control, 0.5) };

        Assert.Equal(0, MadeOutsideAScope(() => _pipeline.Generate(options)));
    }

    [Fact]
    public void EncodingAPromptMakesNoTensorOutsideAScope()
    {
        TextConditioning? text = null;

        Assert.Equal(0, MadeOutsideAScope(() => text = _pipeline.EncodePrompt(ControlNetTiny.RunParameters.Options.Prompt)));
        Assert.Equal(3, new[] { text!.Features, text.Ids, text.Pooled }.Count(tensor => !tensor.IsInvalid));
        foreach (var tensor in new[] { text.Features, text.Ids, text.Pooled }) tensor.Dispose();
    }

    [Fact]
    public void StartingATrainerAndTrainingAStepMakeNoTensorOutsideAScope()
    {
        using var fixture = TrainingTiny.Open();
        using var transformer = fixture.LoadTransformer();
        using var batch = fixture.LoadBatch();
        LoraTrainer? trainer = null;
        try
        {
            Assert.Equal(0, MadeOutsideAScope(() => trainer = LoraTrainer.Create(transformer, fixture.Config)));
            Assert.Equal(0, MadeOutsideAScope(() => trainer!.Step(batch.Examples, batch.Draws)));
            Assert.Equal(1, trainer!.Iteration);
        }
        finally
        {
            trainer?.Dispose();
        }
    }

    /// <summary>Runs <paramref name="work"/> on a new thread, where no dispose scope is open; the tensors it made outside one.</summary>
    private static long MadeOutsideAScope(Action work)
    {
        long count = -1;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                DisposeScopeManager.Statistics.Reset();
                work();
                count = DisposeScopeManager.Statistics.CreatedOutsideScopeCount;
            }
            catch (Exception exception)
            {
                failure = exception;
            }
        });
        thread.Start();
        thread.Join();
        if (failure != null) throw new InvalidOperationException("The work failed on its thread.", failure);
        return count;
    }
}
