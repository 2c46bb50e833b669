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

public static class ControlNetEncodings
{
    /// <summary>The name users type and records keep: <c>mflux</c> or <c>diffusers</c>.</summary>
    public static string Name(this ControlNetEncoding encoding) => encoding.ToString().ToLowerInvariant();

    /// <summary>Reads <c>mflux</c> or <c>diffusers</c>, in any case.</summary>
    public static bool TryParse(string? name, out ControlNetEncoding encoding)
    {
        encoding = ControlNetEncoding.Mflux;
        return !string.IsNullOrWhiteSpace(name) && !name.Trim().All(char.IsDigit)
               && Enum.TryParse(name.Trim(), ignoreCase: true, out encoding) && Enum.IsDefined(encoding);
    }
}
