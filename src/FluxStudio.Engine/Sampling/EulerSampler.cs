using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Memory;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Sampling;

/// <summary>Where the sampler is after a step; the tensors are valid only during the callback.</summary>
public sealed record DenoiseStep(int Step, int Steps, float Timestep, float NextTimestep, Tensor Latent, Tensor Prediction)
{
    /// <summary>The ControlNet residuals the transformer added at this step, if any.</summary>
    public BlockResiduals? Residuals { get; init; }
}

/// <summary>Text conditioning for the transformer: T5 features, their position ids and the pooled CLIP vector.</summary>
public sealed record TextConditioning(Tensor Features, Tensor Ids, Tensor Pooled) : IDisposable
{
    public IReadOnlyList<Tensor> Tensors => [Features, Ids, Pooled];

    public void Dispose()
    {
        foreach (var tensor in Tensors) tensor.Dispose();
    }
}

/// <summary>
/// Integrates the flow from noise to image with Euler steps: x ← x + (t_next − t)·v(x, t). There is no
/// classifier-free guidance; dev models take the guidance scale as an input.
/// </summary>
public static class EulerSampler
{
    /// <param name="latent">Packed noise (B, L, C); the result has the same shape, in float32.</param>
    /// <param name="timesteps">From 1 down to 0, one more than the number of steps.</param>
    /// <param name="guidance">Guidance scale, required for models that embed it, ignored otherwise.</param>
    /// <param name="afterStep">Called after each step, for progress and previews.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <param name="controlNet">Runs before the transformer at each step and gives it residuals; may be null.</param>
    /// <param name="firstStep">The step to start at: 0 from noise; k for image to image, where <paramref name="latent"/>
    /// is the start image already noised to the timestep of step k. Step numbers stay those of the whole schedule.</param>
    public static Tensor Denoise(FluxTransformer model, Tensor latent, Tensor imageIds, TextConditioning text,
        IReadOnlyList<float> timesteps, float? guidance = null, Action<DenoiseStep>? afterStep = null,
        CancellationToken cancellationToken = default, ControlNetGuide? controlNet = null, int firstStep = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstStep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstStep, timesteps.Count - 1);
        using var _ = no_grad();
        long batch = latent.shape[0];
        var device = latent.device;
        var x = latent.to(ScalarType.Float32).clone();
        using var guidanceValue = model.Config.GuidanceEmbed
            ? (guidance ?? throw new ArgumentException("This model needs a guidance scale.", nameof(guidance))).ToScalar()
            : null;
        using var guidanceVector = guidanceValue is null ? null : full([batch], guidanceValue, ScalarType.Float32, device);
        int steps = timesteps.Count - 1;
        for (int i = firstStep; i < steps; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            float current = timesteps[i], next = timesteps[i + 1];
            using var currentValue = current.ToScalar();
            using var stepSize = ((double)next - current).ToScalar();
            var timestep = full([batch], currentValue, ScalarType.Float32, device);
            var residuals = controlNet?.Residuals(x, imageIds, text, timestep);
            var prediction = model.Forward(x, imageIds, text.Features, text.Ids, timestep, text.Pooled, guidanceVector, residuals: residuals)
                .to(ScalarType.Float32);
            // The step size is the difference of the two float32 schedule values taken in double precision.
            var stepped = x.add(prediction * stepSize, One);
            x.Dispose();
            x = stepped.MoveToOuterDisposeScope();
            afterStep?.Invoke(new DenoiseStep(i, steps, current, next, x, prediction) { Residuals = residuals });
            NativeHeap.FreeStepLeftovers();
        }
        return x;
    }
}
