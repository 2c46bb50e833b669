using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// A weight matrix [out, in] stored group-wise affine, as mflux/MLX do: each run of <see cref="GroupSize"/> input
/// elements of a row has one scale and one bias, and <c>w ≈ scale · q + bias</c> with q an unsigned
/// <see cref="Bits"/>-bit integer.
/// </summary>
/// <remarks>
/// Storage: <see cref="Packed"/> is uint8 [out, in·bits/8]. 8-bit: one q per byte. 4-bit: two per byte, element 2j in
/// the low nibble and element 2j+1 in the high nibble (MLX's order within a word). <see cref="Scales"/> and
/// <see cref="Biases"/> are bfloat16 [out, in/group] (as MLX): with float32 they would cost 8-bit storage 0.56 of
/// bf16 instead of 0.53. So that rounding them to bf16 cannot push a weight outside the representable range, the bias
/// is rounded down and the scale up to the next bf16 value before q is computed: every weight is within scale/2 of its
/// dequantized value, and the step is at most one bf16 ulp (&lt; 1 %) wider than the group's range implies.
/// </remarks>
public sealed class QuantizedWeight
{
    private static readonly Scalar Sixteen = 16, SmallestSpan = 1e-30;
    private static readonly Scalar MinusInfinity = double.NegativeInfinity, PlusInfinity = double.PositiveInfinity;

    public static readonly int[] SupportedBits = [4, 8];

    public QuantizedWeight(Tensor packed, Tensor scales, Tensor biases, int bits, long inFeatures)
    {
        if (!SupportedBits.Contains(bits))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Quantization supports 4 or 8 bits.");
        Packed = packed;
        Scales = scales;
        Biases = biases;
        Bits = bits;
        InFeatures = inFeatures;
        OutFeatures = packed.shape[0];
        GroupSize = inFeatures / scales.shape[1];
    }

    public Tensor Packed { get; }

    public Tensor Scales { get; }

    public Tensor Biases { get; }

    public int Bits { get; }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    public long GroupSize { get; }

    /// <summary>Shapes of the three stored tensors for a [out, in] weight.</summary>
    public static (long[] Packed, long[] Scales) StorageShapes(long outFeatures, long inFeatures, int bits, long groupSize) =>
        ([outFeatures, inFeatures * bits / 8], [outFeatures, inFeatures / groupSize]);

    /// <summary>Uninitialised storage, to be filled by a weight loader.</summary>
    public static QuantizedWeight Empty(long outFeatures, long inFeatures, int bits, long groupSize, Device? device = null)
    {
        CheckLayout(inFeatures, bits, groupSize);
        var (packedShape, scaleShape) = StorageShapes(outFeatures, inFeatures, bits, groupSize);
        return new QuantizedWeight(empty(packedShape, ScalarType.Byte, device), empty(scaleShape, ScalarType.BFloat16, device),
            empty(scaleShape, ScalarType.BFloat16, device), bits, inFeatures);
    }

    /// <summary>Quantizes a dense [out, in] weight (any float dtype); the result lives on the weight's device.</summary>
    public static QuantizedWeight Quantize(Tensor weight, int bits, long groupSize)
    {
        if (weight.dim() != 2)
            throw new ArgumentException($"Only matrices are quantized; this weight has shape [{string.Join(", ", weight.shape)}].", nameof(weight));
        long outFeatures = weight.shape[0], inFeatures = weight.shape[1];
        CheckLayout(inFeatures, bits, groupSize);
        long levels = (1L << bits) - 1;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var groups = weight.to(ScalarType.Float32).reshape(outFeatures, inFeatures / groupSize, groupSize);
        var minimum = groups.amin([2]);
        var maximum = groups.amax([2]);
        var bias = BFloat16AtMost(minimum);
        var biasValue = bias.to(ScalarType.Float32);
        // A constant group has span 0; any positive scale then represents it exactly enough (q = 0, w = bias).
        using var top = levels.ToScalar();
        var span = ((maximum - biasValue) / top).clamp_min(SmallestSpan);
        var scale = BFloat16AtLeast(span);
        var scaleValue = scale.to(ScalarType.Float32);
        var q = ((groups - biasValue.unsqueeze(2)) / scaleValue.unsqueeze(2)).round().clamp(Zero, top)
            .to(ScalarType.Byte).reshape(outFeatures, inFeatures);
        var packed = Pack(q, bits);
        return new QuantizedWeight(packed.MoveToOuterDisposeScope(), scale.MoveToOuterDisposeScope(),
            bias.MoveToOuterDisposeScope(), bits, inFeatures);
    }

    /// <summary>Rows [start, start + count) as a weight of their own: views of this one's storage, valid while it is.</summary>
    public QuantizedWeight Rows(long start, long count) =>
        start == 0 && count == OutFeatures
            ? this
            : new QuantizedWeight(Packed.narrow(0, start, count), Scales.narrow(0, start, count), Biases.narrow(0, start, count), Bits, InFeatures);

    /// <summary>The dense weight rows [start, start + count) in <paramref name="dtype"/>.</summary>
    public Tensor Dequantize(ScalarType dtype = ScalarType.Float32, long start = 0, long? count = null)
    {
        long rows = count ?? OutFeatures - start;
        using var scope = NewDisposeScope();
        var part = Rows(start, rows);
        var q = Unpack(part.Packed, Bits).to(dtype).reshape(rows, InFeatures / GroupSize, GroupSize);
        var scales = part.Scales.to(dtype).unsqueeze(2);
        var biases = part.Biases.to(dtype).unsqueeze(2);
        return addcmul(biases, q, scales, One).reshape(rows, InFeatures).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x·Wᵀ + b, dequantizing W in blocks of output rows so that no more than about
    /// dense weight elements exist at once (<paramref name="blockElements"/>, by default <see cref="DefaultBlockElements"/>).
    /// </summary>
    /// <remarks>
    /// <para>A 4-bit block is not interleaved back into [rows, in]: its low nibbles (even inputs) and high nibbles (odd
    /// inputs) are dequantized as two [rows, in/2] matrices and multiplied with the even and odd input columns, which gives
    /// the same product and saves a strided copy of every weight.</para>
    /// <para>Outside autograd the blocks are dequantized into reused memory (<see cref="DequantizationScratch"/>) and the odd
    /// half's product is accumulated in place. When a gradient is recorded each block gets memory of its own, since the
    /// product keeps its weight for the backward pass; gradients flow to the input (and bias), never to the stored weight.</para>
    /// </remarks>
    public Tensor Linear(Tensor input, Tensor? bias, long blockElements = DefaultBlockElements)
    {
        using var scope = NewDisposeScope();
        var dtype = input.dtype;
        var device = Packed.device;
        bool recording = is_grad_enabled() && (input.requires_grad || bias is { requires_grad: true });
        long rowsPerBlock = Math.Max(1, Math.Min(OutFeatures, blockElements / InFeatures));
        long columns = Bits == 8 ? InFeatures : InFeatures / 2;
        using var dense = recording ? null : DequantizationScratch.Rent(dtype, device, rowsPerBlock * InFeatures);
        using var nibbles = Bits == 4 ? DequantizationScratch.Rent(ScalarType.Byte, device, rowsPerBlock * columns) : null;
        Tensor DenseMatrix(long part, long rows) =>
            dense?.Matrix(part * rows * columns, rows, columns) ?? empty([rows, columns], dtype, device);

        Tensor? even = null, odd = null;
        if (Bits == 4)
        {
            even = input.slice(-1, 0, InFeatures, 2).contiguous();
            odd = input.slice(-1, 1, InFeatures, 2).contiguous();
        }
        var pieces = new List<Tensor>();
        for (long start = 0; start < OutFeatures; start += rowsPerBlock)
        {
            long rows = Math.Min(rowsPerBlock, OutFeatures - start);
            var blockBias = bias is null || rows == OutFeatures ? bias : bias.narrow(0, start, rows);
            using var blockScope = NewDisposeScope();
            var packed = Packed.narrow(0, start, rows);
            var scales = Scales.narrow(0, start, rows).to(dtype).unsqueeze(2);
            var biases = Biases.narrow(0, start, rows).to(dtype).unsqueeze(2);
            Tensor output;
            if (Bits == 8)
            {
                var weight = DenseMatrix(0, rows);
                Dequantize(weight, packed, scales, biases);
                output = Layers.Linear.Product(input, weight, blockBias);
            }
            else
            {
                var low = DenseMatrix(0, rows);
                var high = DenseMatrix(1, rows);
                var scratch = nibbles!.Matrix(0, rows, columns);
                Dequantize(low, scratch.copy_(packed).bitwise_and_(0x0F), scales, biases);
                Dequantize(high, scratch.copy_(packed).bitwise_right_shift_(NibbleShift(device)), scales, biases);
                output = Layers.Linear.Product(even!, low, blockBias);
                if (recording)
                    output = output.add(Layers.Linear.Product(odd!, high, null), One);
                else
                    output.view(-1, rows).addmm_(odd!.view(-1, columns), high.t());
            }
            pieces.Add(output.MoveToOuterDisposeScope());
        }
        return (pieces.Count == 1 ? pieces[0] : cat(pieces, -1)).MoveToOuterDisposeScope();
    }

    /// <summary>target [rows, n] ← scale · q + bias, group by group; q is uint8 [rows, n].</summary>
    private void Dequantize(Tensor target, Tensor q, Tensor scales, Tensor biases)
    {
        long rows = target.shape[0], groups = InFeatures / GroupSize;
        var grouped = target.view(rows, groups, -1);
        grouped.copy_(q.view(rows, groups, -1)).mul_(scales).add_(biases, One);
    }

    private static Tensor NibbleShift(Device device) => tensor((byte)4, device: device);

    /// <summary>
    /// Dense elements dequantized at once in <see cref="Linear"/>: 64 Mi (128 MB in bf16, held in reused memory), so every
    /// layer of FLUX.1 (the largest is 21504×3072) and of T5-XXL is a single block and its output needs no concatenation.
    /// Smaller blocks cost more than they save: libtorch's bf16 matmul on narrow weight slices is much slower (4 Mi blocks
    /// made a 4-bit 9216×3072 layer 2.4× slower than one block).
    /// </summary>
    public const long DefaultBlockElements = 64L << 20;

    /// <summary>
    /// The group size used for a layer with <paramref name="inFeatures"/> inputs: the requested one if it divides the
    /// input size, else the largest half, quarter, … of it (at least 8) that does; null when none does (the layer then
    /// stays dense). FLUX.1 and T5-XXL input sizes are all multiples of 64, so only tiny test models fall back.
    /// </summary>
    public static long? GroupSizeFor(long inFeatures, long groupSize)
    {
        for (long g = groupSize; g >= 8; g /= 2)
            if (inFeatures % g == 0) return g;
        return null;
    }

    private static void CheckLayout(long inFeatures, int bits, long groupSize)
    {
        if (!SupportedBits.Contains(bits))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Quantization supports 4 or 8 bits.");
        if (groupSize < 2 || groupSize % 2 != 0 || inFeatures % groupSize != 0)
            throw new ArgumentException(
                $"Group size {groupSize} does not divide the {inFeatures} inputs of this layer into even groups; use {nameof(GroupSizeFor)}.",
                nameof(groupSize));
    }

    /// <summary>The largest bfloat16 values not above <paramref name="value"/> (float32).</summary>
    private static Tensor BFloat16AtMost(Tensor value)
    {
        var nearest = value.to(ScalarType.BFloat16);
        return where(nearest.to(ScalarType.Float32) > value, nearest.nextafter(full_like(nearest, MinusInfinity)), nearest);
    }

    /// <summary>The smallest bfloat16 values not below <paramref name="value"/> (float32).</summary>
    private static Tensor BFloat16AtLeast(Tensor value)
    {
        var nearest = value.to(ScalarType.BFloat16);
        return where(nearest.to(ScalarType.Float32) < value, nearest.nextafter(full_like(nearest, PlusInfinity)), nearest);
    }

    private static Tensor Pack(Tensor q, int bits)
    {
        if (bits == 8) return q.contiguous();
        var pairs = q.reshape(q.shape[0], q.shape[1] / 2, 2);
        return pairs.select(2, 0).bitwise_or(pairs.select(2, 1).mul(Sixteen)).contiguous();
    }

    private static Tensor Unpack(Tensor packed, int bits)
    {
        if (bits == 8) return packed;
        var low = packed.bitwise_and(0x0F);
        var high = packed.div(Sixteen, rounding_mode: RoundingMode.floor);
        return stack([low, high], 2).reshape(packed.shape[0], packed.shape[1] * 2);
    }
}
