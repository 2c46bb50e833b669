using System.Globalization;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.TinyModel;

/// <summary>What <see cref="RandomModelWriter"/> writes.</summary>
public sealed record RandomModelOptions
{
    /// <summary>FLUX.1 [dev] (guidance-distilled) rather than [schnell].</summary>
    public bool Dev { get; init; }

    /// <summary>4 or 8 to write the transformer and T5 quantized, as `fluxstudio save` does; null for bf16.</summary>
    public int? QuantizeBits { get; init; }

    public ulong Seed { get; init; } = 1;

    /// <summary>Double-stream blocks (FLUX.1: 19); fewer keep the widths and shrink the model, for tests.</summary>
    public int DoubleBlocks { get; init; } = FluxConfig.Dev.Depth;

    /// <summary>Single-stream blocks (FLUX.1: 38).</summary>
    public int SingleBlocks { get; init; } = FluxConfig.Dev.DepthSingleBlocks;

    /// <summary>Layers of each text encoder (FLUX.1: 24 in T5-XXL, 12 in CLIP-L); null keeps both.</summary>
    public int? EncoderLayers { get; init; }
}

/// <summary>
/// Writes a FLUX.1-sized model of random weights in the diffusers folder layout that `generate --path` loads: the real
/// transformer, T5-XXL, CLIP-L and VAE shapes and the real tokenizers, so that speed and memory can be measured at real
/// size without the published weights. A quantized model is written in its stored quantized form (the layout of
/// <see cref="QuantizedModelWriter"/>) tensor by tensor, so neither disk nor memory ever holds the bf16 model.
/// </summary>
/// <remarks>
/// Weights follow <see cref="Initialization"/> (matrices N(0, 1/fan_in)); quantized layers hold uniform random codes with
/// one scale and bias per layer chosen for the same spread. The images are noise. The dense transformer is stored under
/// the single-file (BFL) names, which a diffusers folder may hold as well.
/// </remarks>
public static class RandomModelWriter
{
    private const string Transformer = DiffusersFolder.Transformer;
    private const string TextEncoder2 = DiffusersFolder.TextEncoder2;

    /// <summary>Writes the model into the new (or empty) <paramref name="folder"/> and returns the bytes of its weight files.</summary>
    /// <exception cref="IOException">The folder is not empty, or its disk has too little free space.</exception>
    public static long Write(string folder, RandomModelOptions options, IProgress<string>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (options.QuantizeBits is { } b && !QuantizedWeight.SupportedBits.Contains(b))
            throw new ArgumentOutOfRangeException(nameof(options), b, "Quantize to 4 or 8 bits, or leave quantization off.");
        if (options.DoubleBlocks < 0 || options.SingleBlocks < 0 || options.EncoderLayers is <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "Block counts must not be negative and encoder layers must be positive.");
        var target = Path.GetFullPath(folder);
        if (File.Exists(target) || (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any()))
            throw new IOException($"{target} is not an empty folder; choose a new folder for the model (nothing was overwritten).");
        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.partial");
        var parts = new List<Part>();
        try
        {
            Directory.CreateDirectory(staging);
            DiffusersFolderFiles.WriteCommon(staging, options.Dev);
            parts.AddRange(Parts(staging, options));
            long bytes = parts.Sum(part => part.Bytes);
            long free = new DriveInfo(staging).AvailableFreeSpace;
            if (bytes > free)
                throw new IOException($"The model needs {Gigabytes(bytes)} and {parent} has {Gigabytes(free)} free; choose another disk or a smaller model.");
            foreach (var part in parts)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report($"writing {part.Name} ({Gigabytes(part.Bytes)})");
                SafetensorsWriter.Write(part.Path, part.Tensors, part.Metadata);
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(staging, target);
            return bytes;
        }
        finally
        {
            foreach (var part in parts) part.Dispose();
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The configuration of the transformer a model written with these options has.</summary>
    public static FluxConfig TransformerConfig(RandomModelOptions options) =>
        (options.Dev ? FluxConfig.Dev : FluxConfig.Schnell) with { Depth = options.DoubleBlocks, DepthSingleBlocks = options.SingleBlocks };

    private static string Gigabytes(long bytes) => $"{bytes / 1e9:F1} GB";

    /// <summary>The four weight files; one generator draws every tensor, in the order they are written.</summary>
    private static IEnumerable<Part> Parts(string folder, RandomModelOptions options)
    {
        var meta = new Device(DeviceType.META);
        var generator = new Generator(options.Seed);
        var quantizedMetadata = options.QuantizeBits is { } bits
            ? new Dictionary<string, string>
            {
                [QuantizedModels.FormatKey] = QuantizedModels.FormatValue,
                [QuantizedModels.BitsKey] = bits.ToString(CultureInfo.InvariantCulture),
                [QuantizedModels.GroupSizeKey] = Quantizer.DefaultGroupSize.ToString(CultureInfo.InvariantCulture),
                [QuantizedModels.SourceKey] = $"random weights, seed {options.Seed}",
            }
            : null;
        var denseMetadata = new Dictionary<string, string> { ["format"] = "pt" };

        var config = TransformerConfig(options);
        DiffusersFolderFiles.WriteJson(folder, $"{Transformer}/config.json", DiffusersFolderFiles.Transformer(config));
        yield return Part.Of("the transformer", Path.Combine(folder, Transformer, QuantizedModels.WeightFileFor(Transformer)),
            new FluxTransformer(config, ScalarType.BFloat16, meta), options.QuantizeBits, quantizedMetadata ?? denseMetadata, generator);

        var t5Path = DiffusersFolderFiles.WriteJson(folder, $"{TextEncoder2}/config.json",
            DiffusersFolderFiles.T5(dModel: 4096, dFf: 10240, dKv: 64, heads: 64, layers: options.EncoderLayers ?? 24));
        yield return Part.Of("the T5 text encoder", Path.Combine(folder, TextEncoder2, QuantizedModels.WeightFileFor(TextEncoder2)),
            new T5Encoder(T5EncoderConfig.FromFile(t5Path), ScalarType.BFloat16, meta), options.QuantizeBits,
            quantizedMetadata ?? denseMetadata, generator);

        var clipPath = DiffusersFolderFiles.WriteJson(folder, "text_encoder/config.json",
            DiffusersFolderFiles.Clip(hidden: 768, intermediate: 3072, heads: 12, layers: options.EncoderLayers ?? 12));
        yield return Part.Of("the CLIP text encoder", Path.Combine(folder, "text_encoder", "model.safetensors"),
            new ClipTextModel(ClipTextConfig.FromFile(clipPath), ScalarType.BFloat16, meta), null, denseMetadata, generator);

        var vae = AutoEncoderConfig.Flux1;
        DiffusersFolderFiles.WriteJson(folder, "vae/config.json", DiffusersFolderFiles.Vae(vae));
        yield return Part.Of("the VAE", Path.Combine(folder, "vae", "diffusion_pytorch_model.safetensors"),
            new AutoEncoder(vae, ScalarType.BFloat16, meta), null, denseMetadata, generator,
            rename: name => VaeKeyMap.BflToDiffusers(name, vae.LevelCount) ?? throw new InvalidOperationException($"no diffusers name for {name}"),
            // diffusers keeps the mid-block attention's 1×1 convolutions as linear maps.
            stored: (name, shape) => shape.Length == 4 && name.Contains(".attn_1.") ? shape[..2] : shape);
    }

    /// <summary>One weight file: the module (on the meta device: shapes without memory) and its tensors to draw.</summary>
    private sealed class Part(string name, string path, nn.Module module, IReadOnlyList<PendingTensor> tensors,
        IReadOnlyDictionary<string, string> metadata) : IDisposable
    {
        public string Name { get; } = name;
        public string Path { get; } = path;
        public IReadOnlyList<PendingTensor> Tensors { get; } = tensors;
        public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;
        public long Bytes => Tensors.Sum(tensor => tensor.ByteLength);

        public static Part Of(string name, string path, nn.Module module, int? bits, IReadOnlyDictionary<string, string> metadata,
            Generator generator, Func<string, string>? rename = null, Func<string, long[], long[]>? stored = null)
        {
            if (bits is { } b) Quantizer.PrepareForQuantizedLoading(module, b);
            var tensors = new List<PendingTensor>();
            foreach (var (parameterName, parameter) in module.named_parameters())
            {
                var shape = parameter.shape;
                var storedShape = stored?.Invoke(parameterName, shape) ?? shape;
                tensors.Add(new PendingTensor(rename?.Invoke(parameterName) ?? parameterName, ScalarType.BFloat16, storedShape,
                    () => Initialization.RandomValues(parameterName, shape, generator).to(ScalarType.BFloat16).reshape(storedShape)));
            }
            // The buffers, as QuantizedModelWriter writes them: each quantized layer's qweight, scales and biases.
            var linears = module.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name, m => (Linear)m.module);
            foreach (var (bufferName, _) in module.named_buffers())
            {
                int dot = bufferName.LastIndexOf('.');
                var weight = linears[bufferName[..dot]].Quantized!;
                tensors.Add(QuantizedTensor(bufferName, bufferName[(dot + 1)..], weight, generator));
            }
            return new Part(name, path, module, tensors, metadata);
        }

        /// <summary>
        /// Uniform random codes, with scale and bias making each weight uniform on ±√3/√fan_in, the spread (standard
        /// deviation 1/√fan_in) of <see cref="Initialization"/>'s dense matrices.
        /// </summary>
        private static PendingTensor QuantizedTensor(string name, string part, QuantizedWeight weight, Generator generator)
        {
            double half = Math.Sqrt(3.0 / weight.InFeatures);
            double step = 2 * half / ((1 << weight.Bits) - 1);
            return part switch
            {
                "qweight" => new PendingTensor(name, ScalarType.Byte, weight.Packed.shape,
                    () => randint(0, 256, weight.Packed.shape, ScalarType.Byte, generator: generator)),
                "scales" => new PendingTensor(name, ScalarType.BFloat16, weight.Scales.shape, () => Filled(weight.Scales.shape, step)),
                "biases" => new PendingTensor(name, ScalarType.BFloat16, weight.Biases.shape, () => Filled(weight.Biases.shape, -half)),
                _ => throw new InvalidOperationException($"{name}: not a quantized layer's tensor"),
            };
        }

        private static Tensor Filled(long[] shape, double value)
        {
            using var fill = value.ToScalar();
            return full(shape, fill, ScalarType.BFloat16);
        }

        public void Dispose() => module.Dispose();
    }
}
