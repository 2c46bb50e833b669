using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Training;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>Starting training from an existing LoRA file.</summary>
public sealed class TrainableLoraFileTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();
    private readonly TempFolder _folder = new();

    [Fact]
    public void APeftFileWithAlphaStartsTrainingFromTheLoraTheGeneratorWouldApply()
    {
        using var transformer = _fixture.LoadTransformer();
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        // The fixture's mflux initialisation with an alpha of half the rank on every module.
        string path = _folder.File("with-alpha.safetensors");
        using (var init = SafetensorsFile.Open(TrainingTiny.PathOf("lora_init_mflux.safetensors")))
        {
            var tensors = init.Names.Select(name => KeyValuePair.Create(name, init.Load(name))).ToList();
            foreach (var name in init.Names.Where(n => n.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
                tensors.Add(KeyValuePair.Create(name.Replace(".lora_A.weight", ".alpha"), tensor(init.Info(name).Shape[0] / 2f)));
            SafetensorsWriter.Write(path, tensors);
        }
        var objective = new FlowMatchingObjective(transformer, _fixture.Steps, _fixture.Guidance);
        Tensor applied;
        using (var file = LoraFile.Load(path, transformer.Config))
        using (LoraSet.Attach(transformer, [(file, 1.0)]))
        using (no_grad())
            applied = objective.Forward(examples[0], draws[0]).Prediction;

        using var lora = TrainableLora.Load(transformer, _fixture.Config.LoraLayers, path);
        using (no_grad())
            TensorAssert.Close(applied, objective.Forward(examples[0], draws[0]).Prediction, 1e-6, "prediction");
    }

    [Fact]
    public void AFileForOtherLayersIsRefusedAndLeavesTheModelUntouched()
    {
        using var transformer = _fixture.LoadTransformer();
        var layers = _fixture.Config.LoraLayers with
        {
            SingleTransformerBlocks = _fixture.Config.LoraLayers.SingleTransformerBlocks! with { LayerTypes = ["proj_out", "norm.linear"] },
        };
        var error = Assert.Throws<LoraFormatException>(() => TrainableLora.Load(transformer, layers, TrainingTiny.PathOf("lora_init_mflux.safetensors")));
        Assert.Contains("configuration the LoRA was trained with", error.Message);
        Assert.All(transformer.modules().OfType<Layers.Linear>(), layer => Assert.Empty(layer.Adapters));
    }

    [Fact]
    public void ATrainerMadeInsideADisposeScopeOutlivesIt()
    {
        using var transformer = _fixture.LoadTransformer();
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        LoraTrainer trainer;
        using (NewDisposeScope())
            trainer = LoraTrainer.Create(transformer, _fixture.Config);
        using (trainer)
        {
            trainer.Step(examples, draws);
            Assert.Equal(1, trainer.Iteration);
            Assert.All(trainer.Lora.Parameters, p => Assert.False(p.Factor.IsInvalid));
        }
    }

    [Fact]
    public void SchnellTrainsOnTheUnshiftedScheduleWithoutAGuidanceInput()
    {
        var config = FluxTransformer.ReadConfig(Path.Combine(_fixture.ModelPath("folder"), "transformer")) with { GuidanceEmbed = false };
        using var transformer = new FluxTransformer(config);
        Layers.Initialization.Randomize(transformer, new Generator(5));
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        var lora = TrainableLora.Create(transformer, _fixture.Config.LoraLayers with { Initialization = LoraInitialization.Mflux }, 1);
        using var trainer = new LoraTrainer(lora, new AdamW(lora.Parameters, _fixture.Optimizer("torch", "lr_overfit")), TrainingTiny.Settings(_fixture));

        var sigmas = trainer.Objective.Sigmas(examples[0].TokenCount);
        for (int i = 0; i < _fixture.Steps; i++) Assert.Equal((float)(1 - i * (1 - 1.0 / _fixture.Steps) / (_fixture.Steps - 1)), sigmas[i], 6);
        var first = trainer.Step(examples, draws).Loss;
        trainer.Step(examples, draws);
        Assert.True(trainer.Loss(examples, draws) < first);
    }

    public void Dispose()
    {
        _fixture.Dispose();
        _folder.Dispose();
    }
}
