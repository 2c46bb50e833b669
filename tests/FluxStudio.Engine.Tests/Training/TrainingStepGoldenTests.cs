using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Training;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>One training step of tests/Fixtures/training-tiny: schedule, noisy latents, predictions, losses and every factor gradient.</summary>
public sealed class TrainingStepGoldenTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();
    private readonly FluxTransformer _transformer;

    public TrainingStepGoldenTests() => _transformer = _fixture.LoadTransformer();

    public static TheoryData<string> Inits() => ["mflux", "peft"];

    [Fact]
    public void TheScheduleIsTheReferenceAndTheEmbeddingsDifferOnlyInTheLastBits()
    {
        var inputs = _fixture.Inputs;
        var sigmas = TrainingSchedule.Sigmas(_fixture.Steps, _fixture.Run["tokens"]!.GetValue<int>(), shift: _transformer.Config.GuidanceEmbed);
        TensorAssert.Close(inputs.Load("sigmas"), tensor(sigmas), 1e-7, "sigmas");
        var chosen = _fixture.TimestepIndices.Select(i => sigmas[i]).ToArray();
        TensorAssert.Identical(inputs.Load("sigma"), tensor(chosen), "sigmas at the drawn indices");
        var guidance = inputs.Load("guidance");
        Assert.Equal(_fixture.Guidance, guidance.item<float>());

        // libtorch's float32 exp, cos and sin are not the reference's bit for bit; at arguments up to 1000·t radians the
        // embeddings then differ by about one float32 step of the argument.
        void Check(Tensor stored, float value, string what)
        {
            using var ours = TimestepEmbedding.Sinusoidal(tensor(new[] { value }));
            float argument = value * 1000f;
            TensorAssert.Close(stored, ours, 2 * (MathF.BitIncrement(argument) - argument), what);
        }
        for (int i = 0; i < _fixture.ExampleCount; i++) Check(inputs.Load($"ex{i}.t_embedding"), chosen[i], $"timestep embedding {i}");
        Check(inputs.Load("guidance_embedding"), guidance.item<float>(), "guidance embedding");
    }

    [Theory]
    [MemberData(nameof(Inits))]
    public void WithItsOwnEmbeddingsTheStepStaysWithinWhatTheEmbeddingsRoundingMoves(string init)
    {
        using var golden = SafetensorsFile.Open(TrainingTiny.PathOf($"step_{init}.safetensors"));
        using var trainer = _fixture.Trainer(_transformer, init, _fixture.Optimizer("torch", "lr_step_tests"));
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        // The reference re-ran this step with the embedding computed in float64: how far a more exact embedding moves it.
        var bound = _fixture.Manifest["checks"]![$"fp64_everything_{init}"]!;

        var result = trainer.Step(examples, draws);

        TrainingAssert.RelativeClose(_fixture.Results[$"step_{init}"]!["loss"]!.GetValue<double>(), result.Loss,
            bound["loss_rel"]!.GetValue<double>(), "batch loss");
        foreach (var (name, factor) in trainer.Lora.Parameters)
            TrainingAssert.CloseToMax(golden.Load($"grad.{name}"), factor.grad!, bound["grad_max_abs_over_max"]!.GetValue<double>(), $"gradient of {name}");
        using (no_grad())
        {
            for (int i = 0; i < examples.Count; i++)
            {
                using var scope = NewDisposeScope();
                trainer.Lora.LoadFactors(TrainingTiny.PathOf($"lora_init_{init}.safetensors"));
                TensorAssert.Close(golden.Load($"ex{i}.pred"), trainer.Objective.Forward(examples[i], draws[i]).Prediction,
                    bound["pred_max_abs"]!.GetValue<double>(), $"prediction {i}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Inits))]
    public void OneStepMatchesTheReference(string init)
    {
        using var golden = SafetensorsFile.Open(TrainingTiny.PathOf($"step_{init}.safetensors"));
        using var embeddings = ReferenceEmbeddings.Install(_transformer, _fixture);
        using var trainer = _fixture.Trainer(_transformer, init, _fixture.Optimizer("torch", "lr_step_tests"));
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        var expected = _fixture.Results[$"step_{init}"]!;

        trainer.Optimizer.ZeroGrad();
        var losses = new List<float>();
        using var exampleCount = examples.Count.ToScalar();
        for (int i = 0; i < examples.Count; i++)
        {
            using var scope = NewDisposeScope();
            var forward = trainer.Objective.Forward(examples[i], draws[i]);
            TensorAssert.Close(golden.Load($"ex{i}.x_t"), forward.NoisyLatent, 1e-6, $"x_t {i}");
            TensorAssert.Close(golden.Load($"ex{i}.target"), forward.Target, 1e-6, $"target {i}");
            TensorAssert.Close(golden.Load($"ex{i}.pred"), forward.Prediction, _fixture.Tolerance("pred_abs"), $"prediction {i}");
            TrainingAssert.RelativeClose(golden.Load($"ex{i}.loss").item<float>(), forward.Loss.item<float>(), _fixture.Tolerance("loss_rel"), $"loss {i}");
            TrainingAssert.RelativeClose(expected["ex_losses"]![i]!.GetValue<double>(), forward.Loss.item<float>(), _fixture.Tolerance("loss_rel"), $"loss {i}");
            forward.Loss.div(exampleCount).backward();
            losses.Add(forward.Loss.item<float>());
        }
        TrainingAssert.RelativeClose(expected["loss"]!.GetValue<double>(), losses.Average(), _fixture.Tolerance("loss_rel"), "batch loss");

        var gradients = golden.Names.Where(name => name.StartsWith("grad.", StringComparison.Ordinal)).ToList();
        Assert.Equal(gradients.Select(name => name["grad.".Length..]).Order(), trainer.Lora.Parameters.Select(p => p.Name).Order());
        foreach (var (name, factor) in trainer.Lora.Parameters)
        {
            Assert.NotNull(factor.grad);
            TrainingAssert.CloseToMax(golden.Load($"grad.{name}"), factor.grad!, _fixture.Tolerance("grad_rel_to_max_abs"), $"gradient of {name}");
        }
    }

    [Fact]
    public void TheStepAveragesTheExampleLossesAndUpdatesOnlyTheFactors()
    {
        using var embeddings = ReferenceEmbeddings.Install(_transformer, _fixture);
        var before = _transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
        using var trainer = _fixture.Trainer(_transformer, "mflux", _fixture.Optimizer("torch", "lr_step_tests"));
        using var batch = _fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        var initial = trainer.Lora.Parameters.ToDictionary(p => p.Name, p => p.Factor.clone());

        var result = trainer.Step(examples, draws);

        var expected = _fixture.Results["step_mflux"]!;
        TrainingAssert.RelativeClose(expected["loss"]!.GetValue<double>(), result.Loss, _fixture.Tolerance("loss_rel"), "batch loss");
        Assert.Equal(_fixture.TimestepIndices, result.Examples.Select(e => e.TimestepIndex));
        Assert.Equal(1, result.Iteration);
        Assert.All(_transformer.parameters(), p => Assert.False(p.requires_grad));
        foreach (var (name, parameter) in _transformer.named_parameters())
            TensorAssert.Identical(before[name], parameter, $"base weight {name}");
        Assert.All(trainer.Lora.Parameters, p => Assert.False(initial[p.Name].equal(p.Factor).all().item<bool>(), $"{p.Name} did not change"));
        Assert.All(trainer.Lora.Parameters, p => Assert.Equal(ScalarType.Float32, p.Factor.dtype));
    }

    public void Dispose()
    {
        _transformer.Dispose();
        _fixture.Dispose();
    }
}
