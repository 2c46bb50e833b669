namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// Image to image, with mflux's meaning: the picture, resized to the output size, is encoded by the VAE and mixed with
/// the seed's noise at the schedule's step k = max(1, ⌊steps · <see cref="Strength"/>⌋), and denoising runs the steps
/// k … steps − 1 from there.
/// </summary>
/// <param name="Image">The starting picture, at any size: it is resized to the output size (Lanczos, as mflux does).</param>
/// <param name="Strength">How much of the picture is kept, from 0 to 1 (mflux's <c>--image-strength</c>): 0 is plain text
/// to image, 1 runs no step at all and gives the VAE's copy of the picture.</param>
public sealed record InitImage(RgbImage Image, double Strength = InitImage.DefaultStrength)
{
    /// <summary>mflux's default <c>--image-strength</c>.</summary>
    public const double DefaultStrength = 0.4;

    /// <summary>
    /// The schedule step denoising starts at: max(1, ⌊steps · strength⌋), or 0 for strength 0. The product is taken in
    /// double precision, as Python's <c>int(steps * strength)</c> does.
    /// </summary>
    public static int FirstStep(int steps, double strength) => strength <= 0 ? 0 : Math.Max(1, (int)Math.Floor(steps * strength));
}

/// <summary>What a generation's start image ran with: its strength and the schedule step denoising started at.</summary>
public sealed record InitImageRun(double Strength, int FirstStep);
