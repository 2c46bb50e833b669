using System.Globalization;
using FluxStudio.Engine.Vae;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// The sizes a model can make: width and height are multiples of twice its VAE factor (the VAE downscales by the
/// factor and the transformer packs 2 × 2 latent pixels into one token: 16 for FLUX.1, 4 for the tiny test models),
/// up to <see cref="MaxSide"/>. The engine, the request validator and so the CLI, the API and the UI all check sizes
/// with this rule and its messages.
/// </summary>
public sealed record ImageSizeRule(int Multiple)
{
    public const int MaxSide = 4096;

    public static ImageSizeRule Flux1 { get; } = ForVae(AutoEncoderConfig.Flux1);

    public static ImageSizeRule ForVae(AutoEncoderConfig vae) => new(2 * vae.DownsampleFactor);

    /// <summary>The rule of the VAE at <paramref name="vaePath"/>, read from its config or tensor shapes without loading it.</summary>
    public static ImageSizeRule ForVae(string vaePath) => ForVae(VaeCheckpoint.Locate(vaePath).ReadConfig());

    /// <summary>What is wrong with <paramref name="value"/> as the <paramref name="label"/> (Width, Height), or null when it fits.</summary>
    public string? Check(string label, int value)
    {
        if (value <= 0)
            return $"{label} must be a positive multiple of {Multiple} pixels, for example {Text(64 * Multiple)}.";
        if (value > MaxSide)
            return $"{label} {Text(value)} is larger than the maximum of {Text(MaxSide)} pixels.";
        if (value % Multiple == 0)
            return null;
        var lower = value / Multiple * Multiple;
        var suggestion = lower > 0 ? $"{Text(lower)} or {Text(lower + Multiple)}" : Text(Multiple);
        return $"{label} must be a multiple of {Multiple}; {Text(value)} is not. Try {suggestion}.";
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
