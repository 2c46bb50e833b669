using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>QLoRA: LoRA factors train through a frozen 4- or 8-bit transformer.</summary>
public sealed class QuantizedTrainingTests
{
    private static readonly Scalar SqrtInFeatures = Math.Sqrt(128);

    public static TheoryData<int> Bits() => [.. QuantizedWeight.SupportedBits];

    [Theory]
    [MemberData(nameof(Bits))]
    public void AQuantizedLayerPassesTheGradientOfItsDequantizedWeightToItsInput(int bits)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        using var layer = new Linear(128, 96);
        using (no_grad())
        {
            layer.weight.copy_(randn([96, 128], generator: generator) / SqrtInFeatures);
            layer.bias!.copy_(randn([96], generator: generator));
        }
        layer.Quantize(bits, 64);
        var dense = layer.Quantized!.Dequantize();
        var input = randn([2, 5, 128], generator: generator).requires_grad_(true);
        var weights = randn([2, 5, 96], generator: generator);

        var output = layer.forward(input);
        (output * weights).sum().backward();

        using (no_grad())
            TensorAssert.Close(nn.functional.linear(input, dense, layer.bias), output, 1e-5, "output");
        Assert.NotNull(input.grad);
        TensorAssert.Close(weights.matmul(dense), input.grad!, 1e-5, "gradient with respect to the input");
        Assert.All(layer.parameters(), p => Assert.False(p.requires_grad));
    }

    [Theory]
    [MemberData(nameof(Bits))]
    public void TrainingOnAQuantizedBaseLowersTheLossWithTheGradientOfItsDequantizedWeights(int bits)
    {
        using var fixture = TrainingTiny.Open();
        using var quantized = fixture.LoadTransformer();
        var report = Quantizer.QuantizeModule(quantized, bits);
        Assert.NotEmpty(report.QuantizedGroupSizes);
        // The same model with every quantized weight replaced by its dense dequantized value.
        using var dense = fixture.LoadTransformer();
        var denseLayers = dense.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name, m => (Linear)m.module);
        using (no_grad())
        {
            foreach (var (name, module) in quantized.named_modules())
                if (module is Linear { Quantized: { } weight }) denseLayers[name].weight.copy_(weight.Dequantize());
        }
        using var batch = fixture.LoadBatch();
        var (examples, draws) = (batch.Examples, batch.Draws);
        var optimizer = fixture.Optimizer("torch", "lr_overfit");

        Dictionary<string, Tensor> denseGradients;
        using (var trainer = fixture.Trainer(dense, "mflux", optimizer, recomputeBlocks: true))
        {
            trainer.Step(examples, draws);
            denseGradients = trainer.Lora.Parameters.ToDictionary(p => p.Name, p => p.Factor.grad!.clone());
        }
        using (var trainer = fixture.Trainer(quantized, "mflux", optimizer, recomputeBlocks: true))
        {
            var losses = new List<float> { trainer.Step(examples, draws).Loss };
            foreach (var (name, factor) in trainer.Lora.Parameters)
            {
                var expected = denseGradients[name];
                double relative = (factor.grad! - expected).norm().item<float>() / expected.norm().item<float>();
                Assert.True(relative < 1e-4, $"{bits}-bit: the gradient of {name} is {relative:E1} (relative) away from the dequantized model's");
            }
            for (int i = 0; i < 4; i++) losses.Add(trainer.Step(examples, draws).Loss);
            losses.Add(trainer.Loss(examples, draws));
            for (int i = 1; i < losses.Count; i++)
                Assert.True(losses[i] < losses[i - 1], $"{bits}-bit: the loss rose at step {i + 1}: [{string.Join(", ", losses)}]");
        }
        Assert.All(quantized.parameters(), p => Assert.False(p.requires_grad));
    }
}
