namespace FluxStudio.Engine.ControlNet;

/// <summary>How the control image's VAE encoding becomes the ControlNet's conditioning.</summary>
public enum ControlNetEncoding
{
    /// <summary>
    /// The raw posterior mean, without the VAE's shift and scale: what mflux (and so the original app) feeds InstantX's
    /// Canny model, because, in mflux's words, the model gives very bad images otherwise.
    /// </summary>
    Mflux,

    /// <summary>(mean − shift) · scale, the latent the transformer works in: diffusers' <c>FluxControlNetPipeline</c>
    /// (which samples the posterior where this takes its mean).</summary>
    Diffusers,
}
