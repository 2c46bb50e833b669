using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Text;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Memory;

/// <summary>The parts of a FLUX.1 model that are loaded and freed one by one.</summary>
public enum ModelPart
{
    Transformer,
    T5,
    Clip,
    Vae,
    ControlNet,
}

/// <summary>
/// What a FLUX.1 model occupies once loaded at a precision and bit width, with the configurations its activations
/// scale with. Each part is built on libtorch's meta device (shapes without storage) and quantized by the loaders' own
/// rules, so the byte counts are those of a real load, found in milliseconds without reading a weight.
/// </summary>
/// <param name="ControlNet">The ControlNet's trunk, when one guides the generation (see <see cref="WithControlNet"/>).</param>
public sealed record ModelFootprint(
    ScalarType DType,
    int? QuantizationBits,
    bool StoredQuantized,
    FluxConfig Transformer,
    T5EncoderConfig T5,
    ClipTextConfig Clip,
    AutoEncoderConfig Vae,
    IReadOnlyDictionary<ModelPart, long> WeightBytes,
    FluxConfig? ControlNet = null,
    string? ControlNetFolder = null)
{
    private static readonly Device Meta = new(DeviceType.META);

    /// <summary>Reads the parts' configurations and sizes them for <paramref name="dtype"/> and <paramref name="quantizeBits"/>.</summary>
    /// <param name="quantizeBits">4 or 8 to quantize while loading; a part stored quantized keeps its own bit width.</param>
    public static ModelFootprint Read(ModelLocation location, ScalarType dtype, int? quantizeBits)
    {
        var transformer = FluxTransformer.ReadConfig(location.TransformerPath, location.TransformerParamsJson);
        var t5 = T5Encoder.ReadConfig(location.TextEncoder2Path);
        var clip = ClipTextConfig.FromFile(CheckpointConfig.PathFor(location.TextEncoderPath, "CLIP text encoder", "ClipTextConfig.FluxClipL"));
        var vaeCheckpoint = VaeCheckpoint.Locate(location.VaePath);
        AutoEncoderConfig vae;
        using (var source = vaeCheckpoint.OpenCanonical(out _))
            vae = vaeCheckpoint.ReadConfig(source);
        var storedTransformer = QuantizedModels.StoredBits(location.TransformerPath);
        var storedT5 = QuantizedModels.StoredBits(location.TextEncoder2Path);
        return Of(transformer, t5, clip, vae, dtype, storedTransformer ?? quantizeBits, storedT5 ?? quantizeBits,
            storedTransformer is not null || storedT5 is not null);
    }

    /// <summary>A model of these configurations, its transformer and T5 quantized to <paramref name="quantizeBits"/> while loading.</summary>
    public static ModelFootprint Of(FluxConfig transformer, T5EncoderConfig t5, ClipTextConfig clip, AutoEncoderConfig vae,
        ScalarType dtype, int? quantizeBits) =>
        Of(transformer, t5, clip, vae, dtype, quantizeBits, quantizeBits, stored: false);

    /// <summary>The same model loaded at another bit width; null when its bit width is fixed (stored quantized).</summary>
    public ModelFootprint? Requantized(int bits) =>
        StoredQuantized ? null : ControlNetFolder is { } folder ? Of(Transformer, T5, Clip, Vae, DType, bits).WithControlNet(folder)
            : Of(Transformer, T5, Clip, Vae, DType, bits);

    /// <summary>The model with the ControlNet in <paramref name="folder"/> guiding it, quantized like the transformer.</summary>
    public ModelFootprint WithControlNet(string folder) => this with
    {
        ControlNet = FluxControlNet.ReadConfig(folder),
        ControlNetFolder = folder,
        WeightBytes = new Dictionary<ModelPart, long>(WeightBytes)
        {
            [ModelPart.ControlNet] = FluxControlNet.EstimateParameterBytes(folder, DType, QuantizationBits),
        },
    };

    /// <summary>Bytes of the given parts' weights (a part the model does not have counts nothing).</summary>
    public long Weights(IEnumerable<ModelPart> parts) => parts.Sum(part => WeightBytes.GetValueOrDefault(part));

    private static ModelFootprint Of(FluxConfig transformer, T5EncoderConfig t5, ClipTextConfig clip, AutoEncoderConfig vae,
        ScalarType dtype, int? transformerBits, int? t5Bits, bool stored)
    {
        var bytes = new Dictionary<ModelPart, long>
        {
            [ModelPart.Transformer] = Bytes(() => new FluxTransformer(transformer, dtype, Meta), transformerBits),
            [ModelPart.T5] = Bytes(() => new T5Encoder(t5, dtype, Meta), t5Bits),
            [ModelPart.Clip] = Bytes(() => new ClipTextModel(clip, dtype, Meta), null),
            [ModelPart.Vae] = Bytes(() => new AutoEncoder(vae, dtype, Meta), null),
        };
        return new ModelFootprint(dtype, transformerBits, stored, transformer, t5, clip, vae, bytes);
    }

    /// <summary>The resident bytes of a module made on the meta device for the purpose, inside a scope that frees it.</summary>
    private static long Bytes(Func<nn.Module> create, int? bits)
    {
        using var scope = NewDisposeScope();
        using var module = create();
        if (bits is { } quantize) Quantizer.PrepareForQuantizedLoading(module, quantize);
        return Quantizer.ResidentBytes(module);
    }
}
