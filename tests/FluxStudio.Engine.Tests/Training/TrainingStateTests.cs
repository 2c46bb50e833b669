using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Training;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>The trainer's state in the original app's checkpoint files, and continuing from it.</summary>
public sealed class TrainingStateTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();
    private readonly FluxTransformer _transformer;
    private readonly TempFolder _folder = new();

    public TrainingStateTests() => _transformer = _fixture.LoadTransformer();

    /// <summary>The fixture's checkpoint holds the state after adamw_mlx_mflux's steps: PEFT orientation there, MLX's in the file.</summary>
    [Fact]
    public void TheOriginalAppsCheckpointLoadsAsTheStateItWasSavedIn()
    {
        using var trainer = LoraTrainer.Resume(_transformer, _fixture.Config, TrainingTiny.CheckpointFile("lora_adapter"), TrainingTiny.CheckpointFile("optimizer"));
        using var golden = SafetensorsFile.Open(TrainingTiny.PathOf("adamw_mlx_mflux.safetensors"));
        int steps = _fixture.Manifest["optimizer"]!["steps"]!.GetValue<int>();

        Assert.Equal(steps, trainer.Iteration);
        Assert.Equal((float)_fixture.Config.Optimizer.LearningRate, (float)trainer.Optimizer.LearningRate);
        foreach (var (name, factor) in trainer.Lora.Parameters)
        {
            TensorAssert.Identical(golden.Load($"step{steps}.param.{name}"), factor, name);
            TensorAssert.Identical(golden.Load($"step{steps}.exp_avg.{name}"), trainer.Optimizer.ExpAvg(name), $"exp_avg of {name}");
            TensorAssert.Identical(golden.Load($"step{steps}.exp_avg_sq.{name}"), trainer.Optimizer.ExpAvgSq(name), $"exp_avg_sq of {name}");
        }
    }

    [Fact]
    public void SavedStateHasTheOriginalAppsNamesTypesShapesAndMetadata()
    {
        using var trainer = LoraTrainer.Resume(_transformer, _fixture.Config, TrainingTiny.CheckpointFile("lora_adapter"), TrainingTiny.CheckpointFile("optimizer"));
        string adapter = _folder.File("adapter.safetensors"), optimizer = _folder.File("optimizer.safetensors");
        trainer.SaveState(adapter, optimizer);

        foreach (var (ours, theirs) in new[] { (adapter, TrainingTiny.CheckpointFile("lora_adapter")), (optimizer, TrainingTiny.CheckpointFile("optimizer")) })
        {
            using var written = SafetensorsFile.Open(ours);
            using var original = SafetensorsFile.Open(theirs);
            Assert.Equal(original.Names.Order(), written.Names.Order());
            Assert.Equal(original.Metadata, written.Metadata);
            foreach (var name in original.Names)
            {
                // The step count: U64 there, I64 here (libtorch has no unsigned 64-bit type); both read as the same int64.
                if (original.Info(name).DType == ScalarType.Int64) Assert.Equal(ScalarType.Int64, written.Info(name).DType);
                else Assert.Equal(original.Info(name).DType, written.Info(name).DType);
                Assert.Equal(original.Info(name).Shape, written.Info(name).Shape);
                TensorAssert.Identical(original.Load(name), written.Load(name), name);
            }
        }
    }

    [Fact]
    public void ContinuingFromSavedStateGivesTheSameFactorsAsAnUninterruptedRun()
    {
        using var batch = _fixture.LoadBatch();
        var examples = batch.Examples;
        var config = _fixture.Config with { Optimizer = _fixture.Config.Optimizer with { LearningRate = 1e-3 } };
        const int total = 3, interruptedAfter = 1;

        TrainingIterator Iterator() => TrainingIterator.Start(examples.Count, config.TrainingLoop.BatchSize, config.TrainingLoop.NumEpochs, config.Seed);
        void Train(LoraTrainer trainer, TrainingIterator iterator, int until)
        {
            while (iterator.NumIterations < until)
                trainer.Step([.. iterator.Next()!.Select(i => examples[i])], iterator.Random);
        }
        Dictionary<string, Tensor> State(LoraTrainer trainer) => trainer.Lora.Parameters.SelectMany(p => new[]
        {
            KeyValuePair.Create(p.Name, p.Factor.detach().clone()),
            KeyValuePair.Create($"{p.Name}.m", trainer.Optimizer.ExpAvg(p.Name).clone()),
            KeyValuePair.Create($"{p.Name}.v", trainer.Optimizer.ExpAvgSq(p.Name).clone()),
        }).ToDictionary();

        Dictionary<string, Tensor> uninterrupted;
        using (var trainer = LoraTrainer.Create(_transformer, config))
        {
            Train(trainer, Iterator(), total);
            uninterrupted = State(trainer);
        }

        string adapter = _folder.File("adapter.safetensors"), optimizer = _folder.File("optimizer.safetensors");
        string iteratorState;
        using (var trainer = LoraTrainer.Create(_transformer, config))
        {
            var iterator = Iterator();
            Train(trainer, iterator, interruptedAfter);
            trainer.SaveState(adapter, optimizer);
            iteratorState = iterator.ToJson();
        }
        using (var trainer = LoraTrainer.Resume(_transformer, config, adapter, optimizer))
        {
            Assert.Equal(interruptedAfter, trainer.Iteration);
            Train(trainer, TrainingIterator.FromJson(iteratorState, examples.Count), total);
            Assert.Equal(total, trainer.Iteration);
            foreach (var (name, value) in State(trainer))
                TensorAssert.Identical(uninterrupted[name], value, name);
        }
    }

    public void Dispose()
    {
        _transformer.Dispose();
        _fixture.Dispose();
        _folder.Dispose();
    }
}
