using FluxStudio.Engine.Sampling;

namespace FluxStudio.Engine.Training;

/// <summary>
/// The noise levels training draws from, as the original app's trainer takes them from its inference schedule:
/// linspace(1, 1/steps, steps) in float64 rounded to float32, a 0 appended, and for dev models the time shift
/// e^μ / (e^μ + 1/σ − 1) in float32 with μ at the image's token count (<see cref="FlowMatchSchedule.Mu"/>), the last
/// entry kept at 0. Index t ∈ [0, steps) picks σ = sigmas[t]; σ = 0 is never drawn.
/// </summary>
/// <remarks>
/// The values equal <see cref="FlowMatchSchedule.Timesteps"/> up to float32 rounding (that one follows the reference
/// sampler's torch.linspace); training follows the original trainer's arithmetic instead.
/// </remarks>
public static class TrainingSchedule
{
    public static float[] Sigmas(int steps, int imageSequenceLength, bool shift)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var sigmas = new float[steps + 1];
        double last = 1.0 / steps;
        double step = steps == 1 ? 0 : (last - 1.0) / (steps - 1);
        for (int i = 0; i < steps; i++) sigmas[i] = (float)(i == steps - 1 ? last : 1.0 + i * step);
        if (!shift) return sigmas;
        float expMu = MathF.Exp((float)FlowMatchSchedule.Mu(imageSequenceLength));
        for (int i = 0; i < steps; i++) sigmas[i] = expMu / (expMu + (1f / sigmas[i] - 1f));
        return sigmas;
    }
}
