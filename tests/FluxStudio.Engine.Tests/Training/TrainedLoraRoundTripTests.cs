using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Training;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>A trained LoRA saved as a PEFT file is the LoRA the generator applies.</summary>
public sealed class TrainedLoraRoundTripTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();
    private readonly TempFolder _folder = new();

    /// <summary>The fixture's single-block layers plus every joint-block layer type, whose names differ between the formats.</summary>
    private LoraLayersConfig Layers(FluxConfig config) => _fixture.Config.LoraLayers with
    {
        TransformerBlocks = new LoraBlocksConfig(new BlockRange(0, config.Depth), [.. LoraLayerType.Joint.Keys], 4),
        Initialization = LoraInitialization.Mflux,
    };

    private LoraTrainer TrainBriefly(FluxTransformer transformer, List<TrainingExample> examples, List<NoiseDraw> draws)
    {
        var lora = TrainableLora.Create(transformer, Layers(transformer.Config), _fixture.Config.Seed);
        var trainer = new LoraTrainer(lora, new AdamW(lora.Parameters, _fixture.Optimizer("torch", "lr_overfit")), TrainingTiny.Settings(_fixture));
        for (int i = 0; i < 3; i++) trainer.Step(examples, draws);
        return trainer;
    }

    [Fact]
    public void TheSavedFileIsAPeftLoraThatPredictsExactlyAsTheTrainedFactors()
    {
        using var transformer = _fixture.LoadTransformer();
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        string path = Path.Combine(_folder.Path, "trained.safetensors");
        Tensor inMemory;
        Dictionary<string, Tensor> factors;
        using (var trainer = TrainBriefly(transformer, examples, draws))
        {
            trainer.Lora.SavePeft(path);
            factors = trainer.Lora.Parameters.ToDictionary(p => p.Name, p => p.Factor.detach().clone());
            using (no_grad()) inMemory = trainer.Objective.Forward(examples[0], draws[0]).Prediction.detach().clone();
        }

        using (var file = SafetensorsFile.Open(path))
        {
            Assert.Equal(factors.Keys.Order(), file.Names.Order());
            foreach (var (name, factor) in factors) TensorAssert.Identical(factor, file.Load(name), name);
        }
        using var lora = LoraFile.Load(path, transformer.Config);
        Assert.Equal(LoraFormat.Peft, lora.Format);
        Assert.Empty(lora.UnmatchedKeys);
        Assert.All(lora.Modules, module => Assert.Equal(1.0, module.Factor));
        using var set = LoraSet.Attach(transformer, [(lora, 1.0)]);
        var objective = new FlowMatchingObjective(transformer, _fixture.Steps, _fixture.Guidance);
        using (no_grad())
            TensorAssert.Identical(inMemory, objective.Forward(examples[0], draws[0]).Prediction, "prediction with the loaded file");
    }

    [Fact]
    public void TheGeneratorLoadsTheSavedLoraAndItsImageIsTheTrainedModelsImage()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_fixture.ModelPath("folder")), ComputeTarget.Cpu, lowMemory: false);
        var pipeline = new FluxPipeline(model);
        var request = new FluxGenerationOptions
        {
            Prompt = _fixture.Run["captions"]![0]!.GetValue<string>(), Seed = _fixture.Config.Seed,
            Width = _fixture.Run["width"]!.GetValue<int>(), Height = _fixture.Run["height"]!.GetValue<int>(),
            Steps = 4, Guidance = (float)_fixture.Guidance,
        };
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        string path = Path.Combine(_folder.Path, "trained.safetensors");

        var before = pipeline.Generate(request).Image.Pixels;
        byte[] trained;
        using (var trainer = TrainBriefly(model.Transformer, examples, draws))
        {
            trainer.Lora.SavePeft(path);
            trained = pipeline.Generate(request).Image.Pixels;
        }
        Assert.Equal(before, pipeline.Generate(request).Image.Pixels);
        model.UseLoras([(path, 1.0)]);
        var loaded = pipeline.Generate(request).Image.Pixels;

        double meanChange = before.Zip(loaded, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(meanChange > 1, $"the trained LoRA moved pixels by only {meanChange:F2} levels on average");
        Assert.Equal(trained, loaded);
    }

    public void Dispose()
    {
        _fixture.Dispose();
        _folder.Dispose();
    }
}
