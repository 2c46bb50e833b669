using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// A ControlNet with its conditioning for one generation: at each step, the residuals the transformer adds, from the
/// same latent, timestep and text as the transformer's.
/// </summary>
/// <param name="Model">The ControlNet.</param>
/// <param name="Condition">The packed control latent (1, L_img, in_channels).</param>
/// <param name="Strength">Multiplies the residuals.</param>
/// <param name="Guidance">The guidance scale, for ControlNets that embed one (also with a model that does not).</param>
public sealed record ControlNetGuide(FluxControlNet Model, Tensor Condition, double Strength, float Guidance)
{
    /// <summary>The residuals for one step; null at strength 0, which adds nothing, so the ControlNet is not run.</summary>
    public BlockResiduals? Residuals(Tensor latent, Tensor imageIds, TextConditioning text, Tensor timestep)
    {
        if (Strength == 0) return null;
        using var guidanceValue = Guidance.ToScalar();
        using var guidance = Model.Config.GuidanceEmbed ? full([latent.shape[0]], guidanceValue, ScalarType.Float32, latent.device) : null;
        return Model.Forward(latent, Condition, imageIds, text.Features, text.Ids, timestep, text.Pooled, guidance, Strength);
    }
}
