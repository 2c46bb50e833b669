using System.Text.Json.Nodes;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Training;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>The original app's training configuration, and the LoRA layers it selects.</summary>
public sealed class TrainingConfigTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();

    private static string ConfigText() => File.ReadAllText(TrainingTiny.CheckpointFile("config"));

    [Fact]
    public void TheOriginalAppsConfigurationReadsAndWritesBackUnchanged()
    {
        var original = JsonNode.Parse(ConfigText())!;
        var config = TrainingConfig.FromJson(ConfigText());

        Assert.Empty(config.Problems());
        Assert.Equal(original["model"]!.GetValue<string>(), config.Model);
        Assert.Equal(original["seed"]!.GetValue<ulong>(), config.Seed);
        Assert.Equal(original["steps"]!.GetValue<int>(), config.Steps);
        Assert.Equal(original["width"]!.GetValue<int>(), config.Width);
        Assert.Equal(original["training_loop"]!["batch_size"]!.GetValue<int>(), config.TrainingLoop.BatchSize);
        Assert.Equal(original["optimizer"]!["learning_rate"]!.GetValue<double>(), config.Optimizer.LearningRate);
        Assert.Equal(original["examples"]!["images"]!.AsArray().Count, config.Examples.Images.Count);
        Assert.True(JsonNode.DeepEquals(original, JsonNode.Parse(config.ToJson())), config.ToJson());
        Assert.Equal(config.LoraLayers.SingleTransformerBlocks!.LayerTypes, TrainingConfig.FromJson(config.ToJson()).LoraLayers.SingleTransformerBlocks!.LayerTypes);
    }

    [Fact]
    public void ItsLayersAreTheFixturesLoraModules()
    {
        using var transformer = _fixture.LoadTransformer();
        using var lora = TrainableLora.Create(transformer, _fixture.Config.LoraLayers with { Initialization = LoraInitialization.Mflux }, _fixture.Config.Seed);
        var expected = _fixture.Manifest["lora"]!["modules"]!.AsArray();

        Assert.Equal(expected.Count, lora.Modules.Count);
        foreach (var (module, reference) in lora.Modules.Zip(expected))
        {
            Assert.Equal(reference!["name"]!.GetValue<string>(), module.PeftModule);
            Assert.Equal(reference["bfl"]!.GetValue<string>(), module.Target.Target);
            Assert.Equal(reference["rows"]![0]!.GetValue<long>(), module.Target.RowStart);
            Assert.Equal(reference["rows"]![1]!.GetValue<long>(), module.Target.RowEnd);
            Assert.Equal(reference["in_features"]!.GetValue<long>(), module.InFeatures);
            Assert.Equal(reference["rank"]!.GetValue<long>(), module.Rank);
            float bound = reference["bound"]!.GetValue<float>();
            Assert.True(module.A.abs().max().item<float>() <= bound && module.B.abs().max().item<float>() <= bound, $"{module.PeftModule} exceeds ±{bound}");
            Assert.True(module.B.abs().max().item<float>() > bound / 2, $"{module.PeftModule}: B is not drawn from ±{bound}");
            Assert.True(module.A.requires_grad && module.B.requires_grad);
        }
    }

    [Fact]
    public void PeftInitialisationStartsFromTheUnchangedModelAndTheSeedDecidesTheDraws()
    {
        using var transformer = _fixture.LoadTransformer();
        var layers = _fixture.Config.LoraLayers;
        Dictionary<string, Tensor> Draw(ulong seed, LoraInitialization initialization)
        {
            using var lora = TrainableLora.Create(transformer, layers with { Initialization = initialization }, seed);
            return lora.Parameters.ToDictionary(p => p.Name, p => p.Factor.detach().clone());
        }
        var peft = Draw(_fixture.Config.Seed, LoraInitialization.Peft);
        var again = Draw(_fixture.Config.Seed, LoraInitialization.Peft);
        var other = Draw(_fixture.Config.Seed + 1, LoraInitialization.Peft);

        Assert.All(peft.Where(p => p.Key.Contains(".lora_B.")), p => Assert.Equal(0, p.Value.abs().max().item<float>()));
        Assert.All(peft.Where(p => p.Key.Contains(".lora_A.")), p => Assert.True(p.Value.abs().max().item<float>() > 0));
        Assert.All(peft, p => TensorAssert.Identical(p.Value, again[p.Key], p.Key));
        Assert.Contains(peft, p => p.Key.Contains(".lora_A.") && !p.Value.equal(other[p.Key]).all().item<bool>());
    }

    [Fact]
    public void JointBlockLayersGetDiffusersNamesInPeftFilesAndTheOriginalAppsInCheckpoints()
    {
        using var transformer = _fixture.LoadTransformer();
        var layers = new LoraLayersConfig { TransformerBlocks = new LoraBlocksConfig(new BlockRange(IndexList: [1]), ["ff.linear1", "attn.to_out", "attn.add_k_proj"], 2) };
        using var lora = TrainableLora.Create(transformer, layers, 1);
        var h = transformer.Config.HiddenSize;

        Assert.Equal(
            [
                ("transformer.transformer_blocks.1.ff.net.0.proj", "transformer.transformer_blocks.1.ff.linear1", "double_blocks.1.img_mlp.0", 0L, (long)transformer.Config.MlpHiddenDim),
                ("transformer.transformer_blocks.1.attn.to_out.0", "transformer.transformer_blocks.1.attn.to_out.0", "double_blocks.1.img_attn.proj", 0L, (long)h),
                ("transformer.transformer_blocks.1.attn.add_k_proj", "transformer.transformer_blocks.1.attn.add_k_proj", "double_blocks.1.txt_attn.qkv", (long)h, 2L * h),
            ],
            lora.Modules.Select(m => (m.PeftModule, m.CheckpointModule, m.Target.Target, m.Target.RowStart, m.Target.RowEnd)));
    }

    [Fact]
    public void UnusableSettingsAreExplained()
    {
        var config = _fixture.Config with
        {
            Model = "pro",
            Width = 500,
            Optimizer = new OptimizerConfig { Name = "SGD", LearningRate = -1 },
            LoraLayers = new LoraLayersConfig
            {
                SingleTransformerBlocks = new LoraBlocksConfig(new BlockRange(Start: 4, End: 2), ["proj_out", "to_q", "proj_out"], 0),
            },
            Examples = new ExamplesConfig(),
        };
        var problems = config.Problems();
        foreach (var expected in new[]
        {
            "\"dev\" or \"schnell\"", "width must be a multiple of 16", "\"AdamW\" or \"Adam\"", "learning_rate must be a positive",
            "lora_rank must be at least 1", "unknown layer type \"to_q\"", "\"proj_out\" is listed twice", "end must be above start",
            "at least one training image",
        })
            Assert.Contains(problems, problem => problem.Contains(expected, StringComparison.Ordinal));
        Assert.Empty(_fixture.Config.Problems());
    }

    [Fact]
    public void BlocksTheModelDoesNotHaveAreRefused()
    {
        using var transformer = _fixture.LoadTransformer();
        var layers = new LoraLayersConfig
        {
            SingleTransformerBlocks = new LoraBlocksConfig(new BlockRange(0, transformer.Config.DepthSingleBlocks + 1), ["proj_out"], 4),
        };
        var error = Assert.Throws<ArgumentException>(() => TrainableLora.Create(transformer, layers, 1));
        Assert.Contains($"this model has {transformer.Config.DepthSingleBlocks}", error.Message);
        Assert.Empty(transformer.single_blocks[0].linear2.Adapters);
    }

    public void Dispose() => _fixture.Dispose();
}
