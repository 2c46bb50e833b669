using System.Text.Json.Nodes;
using FluxStudio.Engine.Training;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>The example order and the random stream of the original app's trainer, against the fixture's trace and checkpoint.</summary>
public sealed class TrainingIteratorTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();

    private static JsonNode CheckpointFile(string role) => JsonNode.Parse(File.ReadAllText(TrainingTiny.CheckpointFile(role)))!;

    private static int ExampleCount => TrainingTiny.CheckpointManifest["metadata"]!["number_of_training_examples"]!.GetValue<int>();

    private TrainingIterator Start(JsonNode saved) => TrainingIterator.Start(ExampleCount, _fixture.Config.TrainingLoop.BatchSize,
        _fixture.Config.TrainingLoop.NumEpochs, _fixture.Config.Seed, DateTime.Parse(saved["start_date_time"]!.GetValue<string>()));

    [Fact]
    public void TheBatchesAndSeedsAreTheOriginalAppsAndItsStateIsTheCheckpointsIterator()
    {
        var saved = CheckpointFile("iterator");
        var iterator = Start(saved);
        var trace = _fixture.Manifest["mflux_rng_trace_seed"]!.AsArray();
        foreach (var iteration in trace)
        {
            var batch = iterator.Next();
            Assert.NotNull(batch);
            Assert.Equal(iteration!["iteration"]!.GetValue<int>(), iterator.NumIterations);
            Assert.Equal(iteration["examples"]!.AsArray().Select(e => e!.GetValue<int>()), batch);
            foreach (var seeds in iteration["time_seed_noise_seed"]!.AsArray())
            {
                Assert.Equal(seeds![0]!.GetValue<ulong>(), (ulong)iterator.Random.RandInt(0, uint.MaxValue));
                Assert.Equal(seeds[1]!.GetValue<ulong>(), (ulong)iterator.Random.RandInt(0, uint.MaxValue));
            }
        }
        Assert.True(JsonNode.DeepEquals(saved, JsonNode.Parse(iterator.ToJson())), iterator.ToJson());
    }

    [Fact]
    public void ASavedStateContinuesExactlyAsTheRunItCameFrom()
    {
        var saved = CheckpointFile("iterator");
        var restored = TrainingIterator.FromJson(saved.ToJsonString(), ExampleCount);
        Assert.True(JsonNode.DeepEquals(saved, JsonNode.Parse(restored.ToJson())));

        var original = Start(saved);
        while (original.NumIterations < restored.NumIterations)
        {
            original.Next();
            for (int i = 0; i < 2 * original.BatchSize; i++) original.Random.RandInt(0, uint.MaxValue);
        }
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(original.Next(), restored.Next());
            Assert.Equal(original.Random.RandInt(0, uint.MaxValue), restored.Random.RandInt(0, uint.MaxValue));
        }
        Assert.Equal(original.ToJson(), restored.ToJson());
    }

    [Fact]
    public void TheRunEndsAfterItsEpochsAndTheLastBatchOfAnEpochMayBeSmaller()
    {
        var iterator = TrainingIterator.Start(exampleCount: 5, batchSize: 2, numEpochs: 3, seed: _fixture.Config.Seed);
        var sizes = new List<int>();
        while (iterator.Next() is { } batch)
        {
            sizes.Add(batch.Count);
            Assert.Equal(batch.Count, batch.Distinct().Count());
        }
        Assert.Equal([2, 2, 1, 2, 2, 1, 2, 2, 1], sizes);
        Assert.Equal(3, iterator.Epoch);
        Assert.Null(iterator.Next());
        Assert.Equal(15, iterator.TotalIterations);
        Assert.Equal([0, 1, 2, 3, 4], iterator.ValidationBatch());
        var many = TrainingIterator.Start(exampleCount: TrainingIterator.ValidationExamples + 3, batchSize: 1, numEpochs: 1, seed: 1);
        Assert.Equal(Enumerable.Range(0, TrainingIterator.ValidationExamples), many.ValidationBatch());
    }

    [Fact]
    public void AStateFromAnotherSetOfImagesIsRefusedWithAReason()
    {
        var saved = CheckpointFile("iterator").ToJsonString();
        var error = Assert.Throws<FormatException>(() => TrainingIterator.FromJson(saved, ExampleCount + 1));
        Assert.Contains("another set of images", error.Message);
        Assert.Throws<FormatException>(() => TrainingIterator.FromJson("{\"position\": 1}", ExampleCount));
        Assert.Throws<FormatException>(() => TrainingIterator.FromJson("not json", ExampleCount));
    }

    public void Dispose() => _fixture.Dispose();
}
