using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// Loads the quantizable model parts (transformer, T5) in any of three ways: stored quantized (a folder written by
/// <see cref="QuantizedModelWriter"/>: bits read from the file, nothing re-quantized), quantized while loading from
/// full-precision weights (tensor by tensor), or dense as before.
/// </summary>
public static class QuantizedModels
{
    public const string BitsKey = "quantization_bits";
    public const string GroupSizeKey = "quantization_group_size";
    public const string SourceKey = "source";
    public const string FormatKey = "format";
    public const string FormatValue = "fluxstudio-quantized-1";

    /// <summary>The weight file name the quantized parts are saved under (one file per part).</summary>
    public static string WeightFileFor(string part) => part == "transformer" ? "diffusion_pytorch_model.safetensors" : "model.safetensors";

    /// <summary>The bit width a stored quantized part was saved with, or null when the part is not stored quantized.</summary>
    /// <exception cref="QuantizedModelException">The file claims to be quantized but its metadata is unusable.</exception>
    public static int? StoredBits(string partPath)
    {
        using var stored = OpenStored(partPath);
        return stored is null ? null : ReadBits(stored);
    }

    public static FluxTransformer LoadTransformer(string path, ScalarType dtype = ScalarType.Float32, Device? device = null,
        string? paramsJson = null, int? quantizeBits = null, long groupSize = Quantizer.DefaultGroupSize)
    {
        using var stored = OpenStored(path);
        if (stored is not null) return LoadStored(stored, () => new FluxTransformer(FluxTransformer.ReadConfig(path, paramsJson), dtype, device));
        if (quantizeBits is not { } quantize) return FluxTransformer.Load(path, dtype, device, paramsJson);
        using (var weights = TensorSources.Open(path))
        {
            var config = FluxTransformer.ReadConfig(path, weights, paramsJson);
            return Build(new FluxTransformer(config, dtype, device),
                model => FillQuantizing(model, FluxTransformer.CanonicalWeights(weights, config), quantize, groupSize));
        }
    }

    public static T5Encoder LoadT5(string path, ScalarType dtype = ScalarType.Float32, Device? device = null,
        int? quantizeBits = null, long groupSize = Quantizer.DefaultGroupSize)
    {
        using var stored = OpenStored(path);
        if (stored is not null) return LoadStored(stored, () => new T5Encoder(T5Encoder.ReadConfig(path), dtype, device));
        if (quantizeBits is not { } quantize) return T5Encoder.Load(path, dtype, device);
        using (var weights = TensorSources.Open(path))
        {
            return Build(new T5Encoder(T5Encoder.ReadConfig(path), dtype, device),
                model => FillQuantizing(model, T5Encoder.WithTiedEmbedding(weights), quantize, groupSize,
                    ignoreUnexpected: name => name == T5Encoder.TiedEmbedding));
        }
    }

    /// <summary>
    /// Fills a model from full-precision weights (under the model's own names), quantizing its linear layers tensor by
    /// tensor as they are read, so the dense model never exists in memory.
    /// </summary>
    public static void FillQuantizing(nn.Module model, ITensorSource weights, int bits, long groupSize = Quantizer.DefaultGroupSize,
        Func<string, bool>? ignoreUnexpected = null)
    {
        var prepared = Quantizer.PrepareForQuantizedLoading(model, bits, groupSize);
        WeightLoader.Load(model, Quantizer.QuantizeWhileLoading(weights, prepared), ignoreUnexpected);
    }

    /// <summary>Builds a model for a stored quantized file and fills it at the file's own bit width.</summary>
    private static T LoadStored<T>(SafetensorsFile stored, Func<T> create) where T : nn.Module
    {
        int bits = ReadBits(stored);
        return Build(create(), model =>
        {
            Quantizer.PrepareForStoredWeights(model, stored, bits);
            WeightLoader.Load(model, stored);
        });
    }

    private static T Build<T>(T model, Action<T> load) where T : nn.Module
    {
        try
        {
            load(model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The single weight file of a part folder (or the file itself), opened, when its metadata marks it quantized; null
    /// otherwise. The caller reads the weights from this one opening instead of parsing the header again.
    /// </summary>
    private static SafetensorsFile? OpenStored(string partPath)
    {
        string? file = Directory.Exists(partPath)
            ? new[] { "diffusion_pytorch_model.safetensors", "model.safetensors" }.Select(n => Path.Combine(partPath, n)).FirstOrDefault(File.Exists)
            : partPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && File.Exists(partPath) ? partPath : null;
        if (file == null) return null;
        var weights = SafetensorsFile.Open(file);
        if (weights.Metadata.ContainsKey(BitsKey)) return weights;
        weights.Dispose();
        return null;
    }

    private static int ReadBits(SafetensorsFile weights)
    {
        var metadata = weights.Metadata;
        if (!metadata.TryGetValue(FormatKey, out var format) || format != FormatValue)
            throw new QuantizedModelException(weights.Path,
                $"the file is marked quantized but its format is '{format ?? "missing"}' (this version reads '{FormatValue}')");
        if (!metadata.TryGetValue(BitsKey, out var text) || !int.TryParse(text, out int bits) || !QuantizedWeight.SupportedBits.Contains(bits))
            throw new QuantizedModelException(weights.Path, $"{BitsKey} is '{text}', not 4 or 8");
        return bits;
    }
}
