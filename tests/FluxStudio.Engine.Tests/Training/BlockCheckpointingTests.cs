using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Training;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>Recomputing blocks in the backward pass changes the memory a step needs, not its result.</summary>
public sealed class BlockCheckpointingTests
{
    /// <summary>Factors in the joint blocks as well, so that the first block (whose inputs need no gradient) trains too.</summary>
    private static LoraLayersConfig EveryKindOfLayer(FluxConfig config) => new()
    {
        TransformerBlocks = new LoraBlocksConfig(new BlockRange(0, config.Depth), [.. LoraLayerType.Joint.Keys], 2),
        SingleTransformerBlocks = new LoraBlocksConfig(new BlockRange(0, config.DepthSingleBlocks), [.. LoraLayerType.Single.Keys], 3),
        Initialization = LoraInitialization.Mflux,
    };

    public static TheoryData<int> Bases() => [0, .. QuantizedWeight.SupportedBits];

    [Theory]
    [MemberData(nameof(Bases))]
    public void RecomputedBlocksGiveTheSameGradientsAndLosses(int bits)
    {
        using var fixture = TrainingTiny.Open();
        using var transformer = fixture.LoadTransformer();
        if (bits > 0) Quantizer.QuantizeModule(transformer, bits);
        using var batch = fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        var layers = EveryKindOfLayer(transformer.Config);

        (List<float> Losses, Dictionary<string, Tensor> Gradients) Run(bool recompute)
        {
            var lora = TrainableLora.Create(transformer, layers, fixture.Config.Seed);
            using var trainer = new LoraTrainer(lora, new AdamW(lora.Parameters, fixture.Optimizer("torch", "lr_overfit")),
                TrainingTiny.Settings(fixture, recompute));
            Assert.Equal(recompute, transformer.BlockRunner is BlockCheckpointing);
            var losses = new List<float> { trainer.Step(examples, draws).Loss, trainer.Step(examples, draws).Loss };
            return (losses, trainer.Lora.Parameters.ToDictionary(p => p.Name, p => p.Factor.grad!.clone()));
        }

        var plain = Run(recompute: false);
        var recomputed = Run(recompute: true);

        Assert.Null(transformer.BlockRunner);
        Assert.Equal(plain.Losses, recomputed.Losses);
        Assert.Equal(plain.Gradients.Keys, recomputed.Gradients.Keys);
        foreach (var (name, gradient) in plain.Gradients)
        {
            Assert.True(gradient.abs().max().item<float>() > 0, $"{name} got no gradient");
            TensorAssert.Close(gradient, recomputed.Gradients[name], 1e-7 * gradient.abs().max().item<float>(), $"gradient of {name}");
        }
    }
}
