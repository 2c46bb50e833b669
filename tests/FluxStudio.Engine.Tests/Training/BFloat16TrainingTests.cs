using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Training;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>A bfloat16 model trains float32 factors with float32 gradients and moments, as GPUs run it.</summary>
public sealed class BFloat16TrainingTests
{
    [Fact]
    public void FactorsGradientsAndMomentsStayFloat32AndTheLossFalls()
    {
        using var fixture = TrainingTiny.Open();
        using var transformer = FluxTransformer.Load(Path.Combine(fixture.ModelPath("folder"), "transformer"), ScalarType.BFloat16);
        using var batch = fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        using var trainer = fixture.Trainer(transformer, "mflux", fixture.Optimizer("mlx", "lr_overfit"), recomputeBlocks: true);

        var losses = new List<float> { trainer.Step(examples, draws).Loss };
        foreach (var (name, factor) in trainer.Lora.Parameters)
        {
            Assert.Equal(ScalarType.Float32, factor.dtype);
            Assert.Equal(ScalarType.Float32, factor.grad!.dtype);
            Assert.True(factor.grad.abs().max().item<float>() > 0, $"{name} got no gradient");
            Assert.Equal(ScalarType.Float32, trainer.Optimizer.ExpAvg(name).dtype);
            Assert.Equal(ScalarType.Float32, trainer.Optimizer.ExpAvgSq(name).dtype);
        }
        for (int i = 0; i < 3; i++) losses.Add(trainer.Step(examples, draws).Loss);
        Assert.True(losses[^1] < losses[0], $"the loss did not fall: [{string.Join(", ", losses)}]");
        Assert.All(transformer.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
    }
}
