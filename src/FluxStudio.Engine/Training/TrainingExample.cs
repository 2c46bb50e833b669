using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>
/// One training image and its description, encoded once before training: the clean latent x₀ packed into tokens
/// (float32) and the text conditioning. Holds no reference to the VAE or the text encoders, which can be released.
/// </summary>
public sealed class TrainingExample : IDisposable
{
    /// <param name="latent">The scaled and shifted VAE latent (1, C, h, w) of the image.</param>
    public TrainingExample(Tensor latent, TextConditioning text)
    {
        if (latent.dim() != 4 || latent.shape[0] != 1)
            throw new ArgumentException($"Expected one latent (1, C, h, w), got [{string.Join(", ", latent.shape)}].", nameof(latent));
        (LatentChannels, Rows, Columns) = (latent.shape[1], latent.shape[2] / 2, latent.shape[3] / 2);
        CleanLatent = LatentPacking.Pack(latent.to(ScalarType.Float32)).DetachFromDisposeScope();
        ImageIds = LatentPacking.ImageIds(1, Rows, Columns, latent.device).DetachFromDisposeScope();
        Text = text;
    }

    /// <summary>x₀: (1, Rows·Columns, 4·C), float32.</summary>
    public Tensor CleanLatent { get; }

    public Tensor ImageIds { get; }

    public TextConditioning Text { get; }

    public long LatentChannels { get; }

    /// <summary>Token rows (latent height / 2).</summary>
    public long Rows { get; }

    /// <summary>Token columns (latent width / 2).</summary>
    public long Columns { get; }

    public int TokenCount => (int)(Rows * Columns);

    /// <summary>
    /// Encodes an image of the training size and its description with the model's VAE (the posterior mean, not a sample)
    /// and text encoders, as the original app prepares its examples.
    /// </summary>
    public static TrainingExample Encode(FluxPipeline pipeline, RgbImage image, string prompt)
    {
        int multiple = pipeline.SizeMultiple;
        if (image.Width % multiple != 0 || image.Height % multiple != 0)
            throw new ArgumentException(
                $"A training image must be resized to the training size first; {image.Width}×{image.Height} is not a multiple of {multiple}.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var model = pipeline.Model;
        var latent = model.Vae.Encode(ImageConversion.FromRgb(image, model.Target.Device));
        var text = pipeline.EncodePrompt(prompt);
        foreach (var tensor in text.Tensors) tensor.DetachFromDisposeScope();
        return new TrainingExample(latent, text);
    }

    public void Dispose()
    {
        CleanLatent.Dispose();
        ImageIds.Dispose();
        Text.Dispose();
    }
}
