using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// Guides a generation by the Canny edges of <see cref="Image"/>, through the ControlNet the model has in use
/// (<see cref="LoadedFluxModel.UseControlNet"/>).
/// </summary>
/// <param name="Image">The reference picture, at any size: it is resized to the output size.</param>
/// <param name="Strength">Multiplies the ControlNet's residuals (0 leaves the generation as it is without ControlNet).</param>
/// <param name="Encoding">How the edge map's encoding is conditioned on; mflux's by default, as in the original app.</param>
public sealed record ControlNetConditioning(RgbImage Image, float Strength = ControlNetConditioning.DefaultStrength,
    ControlNetEncoding Encoding = ControlNetEncoding.Mflux)
{
    /// <summary>mflux's default <c>--controlnet-strength</c>.</summary>
    public const float DefaultStrength = 0.4f;

    public const float MaxStrength = 1.0f;
}
