using FluxStudio.Engine.Quantization;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Tests.Quantization;

public sealed class QuantizedWeightTests
{
    private static readonly Scalar SpreadRange = 3, SmallestSpread = 0.01, FarOffset = 50;
    private static readonly Scalar Hundred = 100;
    private static readonly Scalar Float32Rounding = 1e-6, BFloat16Widening = 1.01, Tiny = 1e-30;

    /// <summary>Rows of differing spread and offset, including a constant group and one far from zero.</summary>
    private static Tensor TestWeight(long outFeatures, long inFeatures, ulong seed)
    {
        var generator = new Generator(seed);
        var weight = (randn([outFeatures, inFeatures], generator: generator) * (rand([outFeatures, 1], generator: generator) * SpreadRange).add(SmallestSpread, One))
            .add(randn([outFeatures, 1], generator: generator), One);
        weight[0, TensorIndex.Slice(0, 64)] = 0.37f;
        weight[1] = weight[1].add(FarOffset, One);
        return weight;
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    public void EveryWeightIsWithinHalfAStepAndTheStepIsWhatTheBitWidthImplies(int bits)
    {
        using var scope = NewDisposeScope();
        var weight = TestWeight(48, 256, (ulong)bits);
        var quantized = QuantizedWeight.Quantize(weight, bits, 64);
        Assert.Equal([48, 256 * bits / 8], quantized.Packed.shape);
        Assert.Equal([48, 4], quantized.Scales.shape);
        Assert.Equal(ScalarType.BFloat16, quantized.Scales.dtype);

        var groups = weight.reshape(48, 4, 64);
        var error = (quantized.Dequantize().reshape(48, 4, 64) - groups).abs().amax([2]);
        var scale = quantized.Scales.to(ScalarType.Float32);
        // Half a quantization step, plus float32 rounding of scale·q + bias.
        var allowed = (scale / Two).add(Float32Rounding * groups.abs().amax([2]).add(One, One), One);
        Assert.True((error <= allowed).all().item<bool>(), $"max excess {(error - allowed).max().item<float>():E3}");

        // The step is the group's range over 2^bits − 1, widened only by rounding the bias down and the scale up to bf16
        // (each by less than one bf16 ulp, 2^-7 relative).
        var minimum = groups.amin([2]);
        using var steps = ((1 << bits) - 1).ToScalar();
        var ideal = (groups.amax([2]) - minimum).add(minimum.abs() / Hundred, One) / steps;
        Assert.True((scale <= (ideal * BFloat16Widening).add(Tiny, One)).all().item<bool>(), $"max step excess {(scale / ideal).max().item<float>()}");
        Assert.True(error.max().item<float>() > 0, "quantization cannot be lossless on random weights");
    }

    [Fact]
    public void FourBitValuesArePackedLowNibbleFirst()
    {
        using var scope = NewDisposeScope();
        // With minimum 0 and maximum 15 the step is ~1, so q equals the value.
        var row = tensor(new float[] { 1, 2, 0, 15, 7, 8, 3, 3 }).reshape(1, 8);
        var quantized = QuantizedWeight.Quantize(row, 4, 8);
        Assert.Equal(new byte[] { 0x21, 0xF0, 0x87, 0x33 }, quantized.Packed.data<byte>().ToArray());
        TensorAssert.Close(row, quantized.Dequantize(), quantized.Scales.to(ScalarType.Float32).item<float>() / 2, "4-bit row");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void BlockwiseForwardEqualsTheDenseProductWithTheDequantizedWeight(int bits)
    {
        using var scope = NewDisposeScope();
        var weight = TestWeight(80, 128, 3);
        var bias = randn(80);
        var input = randn([2, 5, 128]);
        var quantized = QuantizedWeight.Quantize(weight, bits, 64);
        var expected = nn.functional.linear(input, quantized.Dequantize(), bias);
        // Row 1 sits near 50, so outputs reach hundreds: compare at float32 precision relative to them.
        double tolerance = 1e-6 * expected.abs().max().item<float>();
        TensorAssert.Close(expected, quantized.Linear(input, bias, blockElements: 128 * 7), tolerance, "12 blocks of 7 rows, the last one short");
        TensorAssert.Close(expected, quantized.Linear(input, bias), tolerance, "one block");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void GradientsReachTheInputAndBiasAsThroughTheDequantizedWeight(int bits)
    {
        using var scope = NewDisposeScope();
        var quantized = QuantizedWeight.Quantize(TestWeight(80, 128, 4), bits, 64);
        var weight = quantized.Dequantize();
        var outputGradient = randn([2, 5, 80]);
        var input = randn([2, 5, 128]).requires_grad_();
        var bias = randn(80).requires_grad_();

        var output = quantized.Linear(input, bias, blockElements: 128 * 30);
        output.backward([outputGradient]);

        double tolerance = 1e-5 * outputGradient.abs().sum().item<float>();
        TensorAssert.Close(matmul(outputGradient, weight), input.grad!, tolerance, "input gradient");
        TensorAssert.Close(outputGradient.sum([0, 1]), bias.grad!, tolerance, "bias gradient");
        // Without autograd the same blocks are dequantized into reused memory and accumulated in place.
        using (no_grad())
            TensorAssert.Close(output.detach(), quantized.Linear(input, bias, blockElements: 128 * 30), 1e-6 * output.abs().max().item<float>(), "no_grad forward");
    }

    [Fact]
    public void AQuantizedLinearLayerReplacesItsDenseWeightAndComputesWithTheQuantizedOne()
    {
        using var scope = NewDisposeScope();
        using var layer = new Linear(128, 16);
        using (no_grad())
        {
            layer.weight.copy_(TestWeight(16, 128, 5));
            layer.bias!.copy_(randn(16));
        }
        var input = randn([3, 128]);
        var dense = layer.forward(input);
        layer.Quantize(8, 64);

        Assert.Equal(["bias"], layer.named_parameters().Select(p => p.name));
        Assert.Equal(["qweight", "scales", "biases"], layer.named_buffers().Select(b => b.name));
        Assert.Equal(0, layer.weight.NumberOfElements);
        var output = layer.forward(input);
        TensorAssert.Close(nn.functional.linear(input, layer.Quantized!.Dequantize(), layer.bias), output, 1e-5, "quantized layer");
        Assert.True(((output - dense).norm() / dense.norm()).item<float>() < 0.01);
        Assert.Throws<InvalidOperationException>(() => layer.Quantize(4, 64));
    }

    [Theory]
    [InlineData(3072, 64, 64L)]
    [InlineData(32, 64, 32L)]
    [InlineData(24, 64, 8L)]
    [InlineData(16, 64, 16L)]
    [InlineData(12, 64, null)]
    public void TheGroupSizeFallsBackToTheLargestHalvingThatDividesTheInputs(long inFeatures, long requested, long? expected) =>
        Assert.Equal(expected, QuantizedWeight.GroupSizeFor(inFeatures, requested));

    [Fact]
    public void UnsupportedBitWidthsAndGroupsAreRefused()
    {
        using var weight = randn(4, 64);
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedWeight.Quantize(weight, 3, 64));
        var error = Assert.Throws<ArgumentException>(() => QuantizedWeight.Quantize(weight, 8, 48));
        Assert.Contains("does not divide", error.Message);
    }
}
