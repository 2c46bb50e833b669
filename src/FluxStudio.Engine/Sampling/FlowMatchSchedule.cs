namespace FluxStudio.Engine.Sampling;

/// <summary>
/// The FLUX.1 flow-matching timesteps, from 1 (pure noise) to 0 (image). Guidance-distilled models (dev) shift
/// them towards 1 by an amount that grows with the image's token count; schnell uses them unshifted.
/// </summary>
public static class FlowMatchSchedule
{
    public const double BaseShift = 0.5;
    public const double MaxShift = 1.15;
    public const int BaseSequenceLength = 256;
    public const int MaxSequenceLength = 4096;

    /// <summary>mu on the line through (256, 0.5) and (4096, 1.15); extrapolated outside, as the reference does.</summary>
    public static double Mu(int imageSequenceLength, double baseShift = BaseShift, double maxShift = MaxShift)
    {
        double slope = (maxShift - baseShift) / (MaxSequenceLength - BaseSequenceLength);
        double intercept = baseShift - slope * BaseSequenceLength;
        return slope * imageSequenceLength + intercept;
    }

    /// <summary>
    /// steps + 1 values, in float32 exactly as the reference computes them, so that a seed gives the reference's
    /// image: t ← exp(mu) / (exp(mu) + (1/t − 1)), where dividing a scalar by a tensor is a reciprocal followed by a
    /// multiplication, applied to torch.linspace(1, 0, steps + 1).
    /// </summary>
    public static float[] Timesteps(int steps, int imageSequenceLength, bool shift,
        double baseShift = BaseShift, double maxShift = MaxShift)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "At least one step is needed.");
        var t = ReferenceLinspace(1f, 0f, steps + 1);
        if (!shift) return t;
        float expMu = (float)Math.Exp(Mu(imageSequenceLength, baseShift, maxShift));
        for (int i = 0; i < t.Length; i++)
        {
            float spread = 1f / t[i] - 1f;
            t[i] = 1f / (expMu + spread) * expMu;
        }
        return t;
    }

    /// <summary>
    /// torch.linspace in float32 as PyTorch's CPU kernel fills it: the first half counts up from the start, the
    /// second half down from the end, and each block of 2 × 8 values (two AVX2 vectors) starts from its own base
    /// and adds the step, while the tail is computed element by element. Values can differ from a plain formula
    /// by an ulp, which the shifted schedule can double; the reference's timesteps come from this layout.
    /// </summary>
    internal static float[] ReferenceLinspace(float start, float end, int count)
    {
        const int vector = 8;
        var values = new float[count];
        if (count == 1)
        {
            values[0] = start;
            return values;
        }
        float step = (end - start) / (count - 1);
        int halfway = count / 2;
        float At(int index) => index < halfway ? start + step * index : end - step * (count - index - 1);
        int i = 0;
        for (; i + 2 * vector <= count; i += 2 * vector)
        {
            for (int first = i; first < i + 2 * vector; first += vector)
            {
                float baseValue = At(first);
                for (int j = 0; j < vector; j++) values[first + j] = baseValue + j * step;
            }
        }
        for (; i < count; i++) values[i] = At(i);
        return values;
    }
}
