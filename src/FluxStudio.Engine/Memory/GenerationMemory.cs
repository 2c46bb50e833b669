using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Vae;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Memory;

/// <summary>
/// A generation as far as memory is concerned: the image size, whether the model runs in low-memory mode, and whether it
/// starts from a picture (image to image), which goes through the VAE's encoder first.
/// </summary>
public sealed record MemoryRequest(int Width, int Height, bool LowMemory, bool FromPicture = false);

/// <summary>The new memory a generation takes at its peak: weights it still has to load, and activations.</summary>
public sealed record MemoryEstimate(long WeightBytes, long ActivationBytes)
{
    /// <summary>What must be free for the generation to run: weights, activations and <see cref="GenerationMemory.ReserveBytes"/>.</summary>
    public long TotalBytes => WeightBytes + ActivationBytes + GenerationMemory.ReserveBytes;
}

/// <summary>
/// How much memory a generation takes, stage by stage. With attention that never holds a tokens × tokens matrix, every
/// activation grows linearly with the pixel count; the factors below are the engine's own, measured with libtorch 2.10
/// on the CPU (the bench prints measured peaks beside these estimates) and rounded up.
/// </summary>
/// <remarks>
/// Stages: encoding the prompt, then encoding the control image (with a ControlNet) and the start picture (image to
/// image), denoising and decoding. Without
/// low-memory mode every part is loaded before the first stage and stays. In low-memory mode the text encoders are
/// loaded for the first stage and freed after it, the transformer (and ControlNet) are loaded after it and kept, and the
/// VAE is loaded only to encode or decode; a part already resident costs nothing new.
/// </remarks>
public static class GenerationMemory
{
    /// <summary>Kept free beyond the estimate: allocator slack, the runtime, the rounding of the factors.</summary>
    public const long ReserveBytes = 256L << 20;

    /// <summary>The VAE decodes in tiles when decoding the whole image at once would take more than this.</summary>
    public const long WholeDecodeLimitBytes = 4L << 30;

    /// <summary>Each stage's first run sets up kernels and thread pools that stay.</summary>
    private const long StageSetupBytes = 64L << 20;

    public static MemoryEstimate Estimate(ModelFootprint model, MemoryRequest request, IReadOnlySet<ModelPart>? resident = null)
    {
        resident ??= new HashSet<ModelPart>();
        long Missing(params ModelPart[] parts) => model.Weights(parts.Where(part => !resident.Contains(part)));
        long rows = request.Height / model.Vae.DownsampleFactor, columns = request.Width / model.Vae.DownsampleFactor;
        long imageTokens = rows / 2 * (columns / 2);
        long text = TextActivations(model);
        long denoise = TransformerActivations(model.Transformer, imageTokens, model.DType, model.QuantizationBits is not null);
        long decode = DecodeActivations(model.Vae, model.DType, rows, columns);
        // The control image and the start picture each go through the VAE's encoder whole, one after the other.
        long encodePicture = model.ControlNet is not null || request.FromPicture ? EncodeActivations(model.Vae, model.DType, rows, columns) : 0;
        if (request.FromPicture)
            denoise += rows * columns * model.Vae.LatentChannels * sizeof(float);
        if (model.ControlNet is { } controlNet)
        {
            // Each step the ControlNet's residuals, one per block, wait for the transformer while it runs.
            denoise = Math.Max(denoise, TransformerActivations(controlNet, imageTokens, model.DType, model.QuantizationBits is not null))
                      + (controlNet.Depth + controlNet.DepthSingleBlocks) * imageTokens * controlNet.HiddenSize * Size(model.DType);
        }
        long afterText = Math.Max(encodePicture, Math.Max(denoise, decode));
        (long Weights, long Activations)[] stages = request.LowMemory
            ?
            [
                (Missing(ModelPart.T5, ModelPart.Clip), text),
                (Missing(ModelPart.Vae, ModelPart.Transformer, ModelPart.ControlNet), afterText),
            ]
            : [(Missing(Enum.GetValues<ModelPart>()), Math.Max(text, afterText))];
        var peak = stages.MaxBy(stage => stage.Weights + stage.Activations);
        return new MemoryEstimate(peak.Weights, peak.Activations);
    }

    /// <summary>
    /// One denoising step: the widest block's intermediates (about 38 hidden-size vectors per token, the float32 RoPE
    /// tables and copies), the sampler's float32 latents, and a block of dequantized weights when quantized.
    /// </summary>
    public static long TransformerActivations(FluxConfig config, long imageTokens, ScalarType dtype, bool quantized)
    {
        long tokens = imageTokens + config.T5SequenceLength;
        long perToken = 38L * config.HiddenSize * Size(dtype) + 128L * config.HeadDim;
        long sampler = 4L * imageTokens * config.InChannels * sizeof(float);
        long dequantized = quantized ? 2 * QuantizedWeight.DefaultBlockElements * Size(dtype) : 0;
        return tokens * perToken + sampler + dequantized + StageSetupBytes;
    }

    /// <summary>Both text encoders on their full sequences: feed-forward and residual vectors, float32 attention scores.</summary>
    public static long TextActivations(ModelFootprint model)
    {
        long b = Size(model.DType);
        long t5Length = model.Transformer.T5SequenceLength, clipLength = model.Clip.MaxPositionEmbeddings;
        long t5 = t5Length * (4L * model.T5.DFf + 10L * model.T5.DModel) * b + 3L * model.T5.NumHeads * t5Length * t5Length * sizeof(float);
        long clip = clipLength * (4L * model.Clip.IntermediateSize + 10L * model.Clip.HiddenSize) * b
                    + 3L * model.Clip.NumAttentionHeads * clipLength * clipLength * sizeof(float);
        return Math.Max(t5, clip) + StageSetupBytes;
    }

    /// <summary>
    /// Decoding a latent of <paramref name="rows"/> × <paramref name="columns"/>: the latent-resolution stage, then the up
    /// path on the whole image or on one tile at a time (see <see cref="DecodesInTiles"/>), then the 8-bit image.
    /// </summary>
    public static long DecodeActivations(AutoEncoderConfig vae, ScalarType dtype, long rows, long columns)
    {
        long latentPixels = rows * columns, pixels = latentPixels * vae.DownsampleFactor * vae.DownsampleFactor;
        long features = latentPixels * vae.InnerChannels * Size(dtype);
        long latentStage = 8 * features;
        long image = 9L * pixels * sizeof(float);
        if (!DecodesInTiles(vae, dtype, rows, columns))
            return Math.Max(latentStage, UpPath(vae, dtype, latentPixels)) + features + image + StageSetupBytes;
        var tiling = new VaeTiling();
        long tile = Math.Min(tiling.TileSize, rows) * Math.Min(tiling.TileSize, columns);
        long blending = 4L * pixels * sizeof(float);
        return Math.Max(latentStage, UpPath(vae, dtype, tile) + blending) + features + image + StageSetupBytes;
    }

    /// <summary>
    /// Encoding a whole image of <paramref name="rows"/> × <paramref name="columns"/> latent pixels (a control image):
    /// the encoder's full-resolution levels take what the decoder's do, and the image arrives in float32.
    /// </summary>
    public static long EncodeActivations(AutoEncoderConfig vae, ScalarType dtype, long rows, long columns)
    {
        long latentPixels = rows * columns, pixels = latentPixels * vae.DownsampleFactor * vae.DownsampleFactor;
        long latentStage = 8 * latentPixels * vae.InnerChannels * Size(dtype);
        return Math.Max(latentStage, UpPath(vae, dtype, latentPixels)) + 9L * pixels * sizeof(float) + StageSetupBytes;
    }

    /// <summary>Whether the decoder runs in tiles: when the whole image at once would take more than <see cref="WholeDecodeLimitBytes"/>.</summary>
    public static bool DecodesInTiles(AutoEncoderConfig vae, ScalarType dtype, long rows, long columns) =>
        UpPath(vae, dtype, rows * columns) > WholeDecodeLimitBytes;

    /// <summary>
    /// The up path's widest moment, at full resolution: about ten activations of the base channel count in the model's
    /// precision plus one in float32 (the norms' statistics), per pixel.
    /// </summary>
    private static long UpPath(AutoEncoderConfig vae, ScalarType dtype, long latentPixels) =>
        latentPixels * vae.DownsampleFactor * vae.DownsampleFactor * vae.Channels * (10 * Size(dtype) + sizeof(float));

    private static long Size(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => 8,
        ScalarType.Float32 => 4,
        _ => 2,
    };
}
