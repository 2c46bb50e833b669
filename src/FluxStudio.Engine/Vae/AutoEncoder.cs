using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// The FLUX.1 VAE. <see cref="Encode"/> maps an image in [-1, 1] to the latent the transformer works on,
/// scale × (mean − shift), using the distribution's mean (no sampling); <see cref="Decode"/> undoes the scaling and
/// runs the decoder.
/// </summary>
/// <remarks>
/// Inputs may come in any dtype and device; they are moved to the model's. Results are in the model's dtype, on its
/// device. Parameter names are BFL's (<c>encoder.down.0.block.0.conv1.weight</c>).
/// </remarks>
public sealed class AutoEncoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the checkpoint's names.
    private readonly Encoder encoder;
    private readonly Decoder decoder;
#pragma warning restore IDE1006

    public AutoEncoder(AutoEncoderConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(AutoEncoder))
    {
        Config = config.Validate();
        DType = dtype;
        Device = device ?? CPU;
        encoder = new Encoder(config, dtype, Device);
        decoder = new Decoder(config, dtype, Device);
        RegisterComponents();
    }

    public AutoEncoderConfig Config { get; }

    public ScalarType DType { get; }

    public Device Device { get; }

    /// <summary>
    /// Loads ae.safetensors (BFL names), a diffusers <c>vae/</c> folder, or a model folder holding either. The layout
    /// is read off the tensor names; the config comes from config.json when present, else from the tensor shapes.
    /// </summary>
    /// <exception cref="WeightLoadException">Tensors are missing, unexpected or of the wrong shape (named in the message).</exception>
    public static AutoEncoder Load(string path, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var checkpoint = VaeCheckpoint.Locate(path);
        using var source = checkpoint.OpenCanonical(out var layout);
        var config = checkpoint.ReadConfig(source);
        var model = new AutoEncoder(config, dtype, device);
        try
        {
            WeightLoader.Load(model, source);
            return model;
        }
        catch (WeightLoadException e) when (layout == VaeLayout.Diffusers)
        {
            model.Dispose();
            throw InDiffusersTerms(e, source.Description, config.LevelCount);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The encoder's output: latent mean then log-variance along the channels, before scale and shift.</summary>
    public Tensor EncodeMoments(Tensor image)
    {
        using var _ = no_grad();
        using var input = ToModel(image, Config.InChannels, "image");
        return encoder.call(input);
    }

    /// <summary>Image [B, C, H, W] in [-1, 1] → latent [B, z, H/f, W/f], scaled and shifted for the transformer.</summary>
    public Tensor Encode(Tensor image)
    {
        using var scope = NewDisposeScope();
        var mean = EncodeMoments(image).narrow(1, 0, Config.LatentChannels);
        using Scalar shift = Config.ShiftFactor, scale = Config.ScaleFactor;
        return mean.sub(shift).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>Latent [B, z, h, w] as the transformer sees it → image [B, C, h·f, w·f], roughly in [-1, 1].</summary>
    public Tensor Decode(Tensor latent)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return decoder.call(Unscale(latent)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="Decode"/> in overlapping tiles, blended across the overlaps, so that the peak memory depends on the
    /// tile size rather than the image size. A latent that fits in one tile is decoded whole.
    /// </summary>
    /// <param name="progress">Fraction of the tile decodes done (statistics passes included), from 0 to 1.</param>
    public Tensor DecodeTiled(Tensor latent, VaeTiling tiling, IProgress<double>? progress = null,
        CancellationToken cancellationToken = default)
    {
        tiling.Validate();
        if (tiling.TileStarts((int)latent.shape[^2]).Count == 1 && tiling.TileStarts((int)latent.shape[^1]).Count == 1)
            return Decode(latent);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // The latent-resolution part is small and holds the only attention: run it whole, tile the rest.
        var features = decoder.LatentFeatures(Unscale(latent));
        var image = TiledDecoding.Decode(decoder, features, Config, tiling, progress, cancellationToken);
        return image.to(DType).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor image)
    {
        using var latent = Encode(image);
        return Decode(latent);
    }

    private Tensor Unscale(Tensor latent)
    {
        using Scalar shift = Config.ShiftFactor, scale = Config.ScaleFactor;
        return ToModel(latent, Config.LatentChannels, "latent").div(scale).add_(shift, One);
    }

    private Tensor ToModel(Tensor input, int channels, string what)
    {
        if (input.dim() != 4 || input.shape[1] != channels)
            throw new ArgumentException(
                $"The VAE expects a {what} of shape [batch, {channels}, height, width]; got [{string.Join(", ", input.shape)}].");
        var moved = input.to(DType, Device);
        // Tensor.to may hand back the very same object; callers dispose what this returns, never the caller's tensor.
        return ReferenceEquals(moved, input) ? input.alias() : moved;
    }

    private static WeightLoadException InDiffusersTerms(WeightLoadException e, string description, int levelCount)
    {
        string Annotate(string text)
        {
            var name = text.Split(' ')[0];
            return VaeKeyMap.BflToDiffusers(name, levelCount) is { } diffusers && diffusers != name
                ? $"{diffusers} (BFL {name}){text[name.Length..]}"
                : text;
        }
        return new WeightLoadException(description, [.. e.Missing.Select(Annotate)], e.Unexpected,
            [.. e.WrongShape.Select(Annotate)]);
    }
}
