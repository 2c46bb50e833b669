using FluxStudio.Engine.Models;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Quantization;

/// <summary>
/// Writes a quantized copy of a FLUX.1 diffusers folder: the transformer and the T5 encoder quantized (each read from
/// the source tensor by tensor, so the full-precision part is never in memory), every other file copied unchanged.
/// </summary>
/// <remarks>
/// The quantized parts are single files, <c>transformer/diffusion_pytorch_model.safetensors</c> and
/// <c>text_encoder_2/model.safetensors</c>, under the model's own parameter names (BFL names for the transformer), with
/// <c>qweight</c>/<c>scales</c>/<c>biases</c> in place of each quantized layer's <c>weight</c>. Their metadata records
/// <c>quantization_bits</c>, <c>quantization_group_size</c>, <c>source</c> and <c>format</c>; the group size of each
/// layer also follows from its tensors' shapes. The folder is assembled next to the target and moved into place at
/// the end, so a failed or cancelled save leaves nothing half-written.
/// </remarks>
public static class QuantizedModelWriter
{
    private static readonly string[] QuantizedParts = [DiffusersFolder.Transformer, DiffusersFolder.TextEncoder2];

    /// <param name="storageDType">dtype of the tensors that stay dense (norms, embeddings, biases).</param>
    /// <param name="source">What the metadata names as the source (e.g. the repository id); the source folder's full path by default.</param>
    /// <param name="cancellationToken">Checked between the parts; a cancelled save leaves no output folder.</param>
    public static void Save(string sourceFolder, string outFolder, int bits, long groupSize = Quantizer.DefaultGroupSize,
        ScalarType storageDType = ScalarType.BFloat16, string? source = null, IProgress<string>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (!QuantizedWeight.SupportedBits.Contains(bits))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Quantize to 4 or 8 bits.");
        if (groupSize < 8 || (groupSize & (groupSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "The group size must be a power of two of at least 8 (mflux uses 64).");
        DiffusersFolder.Validate(sourceFolder);
        foreach (var part in QuantizedParts)
            if (QuantizedModels.StoredBits(Path.Combine(sourceFolder, part)) is { } stored)
                throw new InvalidOperationException(
                    $"{sourceFolder} is already quantized ({stored} bits); save from the original full-precision model instead.");
        var target = Path.GetFullPath(outFolder);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new IOException($"{target} is not empty; choose a new folder for the quantized model (nothing was overwritten).");
        if (File.Exists(target))
            throw new IOException($"{target} is a file; choose a new folder for the quantized model.");

        var staging = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.partial");
        try
        {
            progress?.Report("copying the parts that stay as they are");
            CopyUnquantized(sourceFolder, staging);
            var metadata = new Dictionary<string, string>
            {
                [QuantizedModels.FormatKey] = QuantizedModels.FormatValue,
                [QuantizedModels.BitsKey] = bits.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [QuantizedModels.GroupSizeKey] = groupSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [QuantizedModels.SourceKey] = source ?? Path.GetFullPath(sourceFolder),
            };

            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report($"quantizing the transformer to {bits} bits");
            using (var transformer = QuantizedModels.LoadTransformer(Path.Combine(sourceFolder, DiffusersFolder.Transformer),
                       storageDType, CPU, quantizeBits: bits, groupSize: groupSize))
                WriteModule(transformer, Path.Combine(staging, DiffusersFolder.Transformer, QuantizedModels.WeightFileFor(DiffusersFolder.Transformer)), metadata);

            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report($"quantizing the T5 text encoder to {bits} bits");
            using (var t5 = QuantizedModels.LoadT5(Path.Combine(sourceFolder, DiffusersFolder.TextEncoder2),
                       storageDType, CPU, quantizeBits: bits, groupSize: groupSize))
                WriteModule(t5, Path.Combine(staging, DiffusersFolder.TextEncoder2, QuantizedModels.WeightFileFor(DiffusersFolder.TextEncoder2)), metadata);

            cancellationToken.ThrowIfCancellationRequested();
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(staging, target);
            progress?.Report($"saved {target}");
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Writes every parameter and buffer of a module under its own name.</summary>
    public static void WriteModule(nn.Module module, string path, IReadOnlyDictionary<string, string> metadata)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in module.named_parameters()) tensors[name] = parameter;
        foreach (var (name, buffer) in module.named_buffers()) tensors.TryAdd(name, buffer);
        SafetensorsWriter.Write(path, tensors, metadata);
    }

    /// <summary>Copies the source tree except the weights of the parts that are written quantized.</summary>
    private static void CopyUnquantized(string sourceFolder, string staging)
    {
        var root = new DirectoryInfo(sourceFolder);
        foreach (var file in root.EnumerateFiles("*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root.FullName, file.FullName);
            var topFolder = relative.Split(Path.DirectorySeparatorChar)[0];
            bool isWeight = file.Name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
                            || file.Name.EndsWith(".safetensors.index.json", StringComparison.OrdinalIgnoreCase);
            if (isWeight && QuantizedParts.Contains(topFolder)) continue;
            var destination = Path.Combine(staging, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file.FullName, destination);
        }
    }
}
