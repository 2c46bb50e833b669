using FluxStudio.Engine.Layers;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Flux;

/// <summary>A layer computed by parts (<see cref="Linear.ForwardSplit"/>, <see cref="Linear.ForwardJoined"/>) against the whole product.</summary>
public sealed class LinearPartsTests
{
    private const long In = 64, Out = 48;
    private static readonly long[] OutputParts = [12, 36], InputParts = [16, 48];
    private static Linear Layer(int? bits, ScalarType dtype = ScalarType.Float32)
    {
        var generator = new Generator(7);
        var layer = new Linear(In, Out, dtype: dtype);
        using (no_grad())
        {
            layer.weight.copy_(randn([Out, In], generator: generator));
            layer.bias!.copy_(randn([Out], generator: generator));
        }
        if (bits is { } b) layer.Quantize(b, groupSize: 16);
        return layer;
    }

    private static Tensor Input(long features, ulong seed) => randn([2, 5, features], generator: new Generator(seed));

    [Theory]
    [InlineData(null)]
    [InlineData(4)]
    [InlineData(8)]
    public void RowsNarrowedOutOfALongerSequenceGiveTheWrittenOutProduct(int? bits)
    {
        // The double block's projections take the text and image rows narrowed out of the joint sequence: with a batch of
        // one they are still one matrix, with two they are not.
        using var scope = NewDisposeScope();
        using var layer = Layer(bits);
        var dense = layer.Quantized?.Dequantize(ScalarType.Float32) ?? layer.weight;
        foreach (var batch in new[] { 1L, 2L })
        {
            var sequence = randn([batch, 9, In], generator: new Generator(3));
            var rows = sequence.narrow(1, 2, 5);
            var output = layer.forward(rows);
            Assert.Equal([batch, 5, Out], output.shape);
            TensorAssert.Close(rows.matmul(dense.t()).add(layer.bias!, One), output, 1e-4, $"batch {batch}");
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData(4)]
    [InlineData(8)]
    public void SplitPartsAreTheWholeOutputsSlicesAndTensorsOfTheirOwn(int? bits)
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits);
        var input = Input(In, 1);
        var whole = layer.forward(input);
        var parts = layer.ForwardSplit(input, OutputParts);
        Assert.Equal(OutputParts.Length, parts.Length);
        long start = 0;
        foreach (var (part, size) in parts.Zip(OutputParts))
        {
            Assert.Equal([2, 5, size], part.shape);
            Assert.True(part.is_contiguous(), "a part is a tensor of its own, not a strided view of one output");
            Assert.True(allclose(part, whole.narrow(-1, start, size), rtol: 1e-5, atol: 1e-5), $"outputs {start}..{start + size}");
            start += size;
        }
    }

    [Fact]
    public void JoinedInputsGiveTheProductOfTheirConcatenation()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits: null);
        var inputs = InputParts.Select((size, i) => Input(size, 10 + (ulong)i)).ToArray();
        var expected = layer.forward(cat(inputs, -1));
        Assert.True(allclose(layer.ForwardJoined(inputs), expected, rtol: 1e-5, atol: 1e-5));
    }

    /// <summary>In bf16 a sum split over two products would be rounded between them: the inputs are joined instead.</summary>
    [Fact]
    public void JoinedBFloat16InputsGiveExactlyTheProductOfTheirConcatenation()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits: null, ScalarType.BFloat16);
        var inputs = InputParts.Select((size, i) => Input(size, 30 + (ulong)i).to(ScalarType.BFloat16)).ToArray();
        TensorAssert.Identical(layer.forward(cat(inputs, -1)), layer.ForwardJoined(inputs), "bf16 joined");
    }

    [Fact]
    public void JoinedInputsOfTheWrongWidthAreRefused()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits: null);
        var error = Assert.Throws<ArgumentException>(() => layer.ForwardJoined(Input(16, 1), Input(16, 2)));
        Assert.Contains($"takes {In}", error.Message);
    }

    [Fact]
    public void GradientsThroughThePartsAreTheWholeProductsGradients()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits: null);
        var upstream = Input(Out, 3);
        Tensor GradientOfInput(Func<Tensor, Tensor> forward)
        {
            var input = Input(In, 4).requires_grad_();
            (forward(input) * upstream).sum().backward();
            return input.grad!;
        }
        var whole = GradientOfInput(layer.forward);
        var split = GradientOfInput(input => cat(layer.ForwardSplit(input, OutputParts), -1));
        var joined = GradientOfInput(input => layer.ForwardJoined(input.split(InputParts, -1)));
        Assert.True(allclose(split, whole, rtol: 1e-5, atol: 1e-5), "split");
        Assert.True(allclose(joined, whole, rtol: 1e-5, atol: 1e-5), "joined");
    }

    /// <summary>An adapter sees the whole input and output: the parts are joined for it, and split again after.</summary>
    [Fact]
    public void AnAdapterSeesTheWholeInputAndOutput()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(bits: null);
        var adapter = new RecordingAdapter();
        layer.Adapters.Add(adapter);
        var input = Input(In, 5);
        var parts = layer.ForwardSplit(input, OutputParts);
        Assert.Equal([2, 5, Out], adapter.OutputShape!);
        Assert.True(allclose(cat(parts, -1), layer.forward(input), rtol: 1e-5, atol: 1e-5), "the adapter's addition is in the parts");

        var inputs = InputParts.Select((size, i) => Input(size, 20 + (ulong)i)).ToArray();
        layer.ForwardJoined(inputs);
        Assert.Equal([2, 5, In], adapter.InputShape!);
    }

    private sealed class RecordingAdapter : ILinearAdapter
    {
        private static readonly Scalar Addition = 1;

        public long[]? InputShape { get; private set; }

        public long[]? OutputShape { get; private set; }

        public Tensor Adapt(Tensor input, Tensor output)
        {
            (InputShape, OutputShape) = (input.shape, output.shape);
            return output.add(Addition, One);
        }
    }
}
