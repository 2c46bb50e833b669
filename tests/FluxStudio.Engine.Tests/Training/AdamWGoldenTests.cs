using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>The fixture's three AdamW steps in both forms and from both initialisations, and its overfitting runs.</summary>
public sealed class AdamWGoldenTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();
    private readonly FluxTransformer _transformer;

    public AdamWGoldenTests() => _transformer = _fixture.LoadTransformer();

    /// <summary>Every adamw_&lt;form&gt;_&lt;init&gt;.safetensors of the fixture.</summary>
    public static TheoryData<string> Runs() =>
        [.. Directory.GetFiles(Fixtures.Path(TrainingTiny.Name), "adamw_*.safetensors").Select(path => Path.GetFileNameWithoutExtension(path)!).Order()];

    /// <summary>Every overfitting curve of the manifest (results.overfit_&lt;form&gt;_&lt;init&gt;).</summary>
    public static TheoryData<string> OverfitRuns()
    {
        using var fixture = TrainingTiny.Open();
        return [.. fixture.Results.AsObject().Select(pair => pair.Key).Where(key => key.StartsWith("overfit_", StringComparison.Ordinal))];
    }

    private static (string Form, string Init) Parse(string run)
    {
        var parts = run.Split('_');
        return (parts[1], parts[2]);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void ThreeStepsMatchTheReference(string run)
    {
        var (form, init) = Parse(run);
        using var golden = SafetensorsFile.Open(TrainingTiny.PathOf($"{run}.safetensors"));
        using var embeddings = ReferenceEmbeddings.Install(_transformer, _fixture);
        using var trainer = _fixture.Trainer(_transformer, init, _fixture.Optimizer(form, "lr_step_tests"));
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        int steps = _fixture.Manifest["optimizer"]!["steps"]!.GetValue<int>();
        var expected = _fixture.Results[run]!;

        var settings = trainer.Optimizer.Settings;
        var undetermined = trainer.Lora.Parameters.ToDictionary(p => p.Name, p => zeros_like(p.Factor, ScalarType.Bool));
        long elements = trainer.Lora.Parameters.Sum(p => p.Factor.numel());
        for (int s = 1; s <= steps; s++)
        {
            var result = trainer.Step(examples, draws);
            Assert.Equal(golden.Load($"step{s}.step").item<long>(), result.Iteration);
            TrainingAssert.RelativeClose(golden.Load($"step{s}.loss").item<float>(), result.Loss, _fixture.Tolerance("loss_rel"), $"loss before step {s}");
            TrainingAssert.RelativeClose(expected["losses"]![s - 1]!.GetValue<double>(), result.Loss, _fixture.Tolerance("loss_rel"), $"loss before step {s}");
            foreach (var (name, factor) in trainer.Lora.Parameters)
            {
                // Adam divides each moment by its own size, so where the gradient is as small as the float32 noise of
                // computing it (nonzero, but within the moment tolerance of zero) the direction of the update is noise
                // too, in the reference as here: such an element may end up to a full update per step away.
                var expAvg = golden.Load($"step{s}.exp_avg.{name}");
                using var relativeNoise = _fixture.Tolerance("adamw_exp_avg_rel_to_max").ToScalar();
                var noise = expAvg.abs().max().mul(relativeNoise);
                undetermined[name].logical_or_(expAvg.abs().le(noise).logical_and(expAvg.ne(Zero)));
                double largestUpdates = 2 * s * settings.LearningRate * (1 - settings.Beta1) / Math.Sqrt(1 - settings.Beta2);
                var tolerance = where(undetermined[name], largestUpdates, _fixture.Tolerance("adamw_param_abs"));
                var excess = (golden.Load($"step{s}.param.{name}") - factor).abs() - tolerance;
                double worst = excess.max().item<double>();
                Assert.True(worst <= 0, $"step {s} {name}: parameters differ by {worst:E2} more than allowed");
                TrainingAssert.CloseToMax(golden.Load($"step{s}.exp_avg.{name}"), trainer.Optimizer.ExpAvg(name),
                    _fixture.Tolerance("adamw_exp_avg_rel_to_max"), $"step {s} exp_avg of {name}");
                TrainingAssert.CloseToMax(golden.Load($"step{s}.exp_avg_sq.{name}"), trainer.Optimizer.ExpAvgSq(name),
                    _fixture.Tolerance("adamw_exp_avg_sq_rel_to_max"), $"step {s} exp_avg_sq of {name}");
            }
        }
        long loose = undetermined.Values.Sum(mask => mask.sum().item<long>());
        Assert.True(loose * 100 < elements, $"{loose} of {elements} parameters had gradients too small to compare");
        float after = trainer.Loss(examples, draws);
        TrainingAssert.RelativeClose(golden.Load("final.loss").item<float>(), after, _fixture.Tolerance("loss_rel"), "loss after the last step");
        TrainingAssert.RelativeClose(expected["loss_after"]!.GetValue<double>(), after, _fixture.Tolerance("loss_rel"), "loss after the last step");
    }

    [Theory]
    [MemberData(nameof(OverfitRuns))]
    public void OverfittingTheBatchLowersTheLossEveryStep(string run)
    {
        var (form, init) = Parse(run);
        using var trainer = _fixture.Trainer(_transformer, init, _fixture.Optimizer(form, "lr_overfit"), recomputeBlocks: true);
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        int steps = _fixture.Manifest["optimizer"]!["overfit_steps"]!.GetValue<int>();
        var reference = _fixture.Results[run]!["losses"]!.AsArray().Select(l => l!.GetValue<double>()).ToArray();

        var losses = Enumerable.Range(0, steps).Select(_ => trainer.Step(examples, draws).Loss).ToList();
        losses.Add(trainer.Loss(examples, draws));

        Assert.Equal(steps, reference.Length);
        // With our own embeddings the first loss is the reference's within what the embedding's rounding moves it.
        TrainingAssert.RelativeClose(reference[0], losses[0], _fixture.Manifest["checks"]![$"fp64_everything_{init}"]!["loss_rel"]!.GetValue<double>(), "first loss");
        for (int i = 1; i < losses.Count; i++)
            Assert.True(losses[i] < losses[i - 1], $"the loss rose from {losses[i - 1]} to {losses[i]} at step {i + 1}: [{string.Join(", ", losses)}]");
        Assert.True(losses[^1] < 0.75 * losses[0], $"the loss only fell from {losses[0]} to {losses[^1]}");
    }

    public void Dispose()
    {
        _transformer.Dispose();
        _fixture.Dispose();
    }
}
