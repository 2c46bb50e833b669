using FluxStudio.Engine.Flux;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>How one example went through the model: the noisy input, the prediction, the target and the loss.</summary>
/// <param name="Loss">Mean over all elements of (x₀ + prediction − noise)², a scalar that autograd can differentiate.</param>
public sealed record ExampleForward(float Sigma, Tensor NoisyLatent, Tensor Prediction, Tensor Target, Tensor Loss);

/// <summary>
/// The flow-matching loss of one example as the original app's trainer computes it: σ = sigmas[t] of the inference
/// schedule (<see cref="TrainingSchedule"/>) at the drawn index t, x_t = (1 − σ)·x₀ + σ·noise, the transformer's
/// prediction at timestep σ (with the guidance input for dev models, no classifier-free guidance), and the mean over all
/// elements of (x₀ + prediction − noise)², i.e. the squared error against the velocity noise − x₀. Whatever LoRA is
/// attached to the transformer takes part.
/// </summary>
/// <param name="steps">The schedule's size (the configuration's inference steps).</param>
/// <param name="guidance">The guidance input of guidance-distilled (dev) models; ignored for others.</param>
public sealed class FlowMatchingObjective(FluxTransformer transformer, int steps, double guidance)
{
    private readonly Dictionary<int, float[]> _sigmas = [];

    public FluxTransformer Transformer { get; } = transformer;

    public int Steps { get; } = steps >= 1 ? steps : throw new ArgumentOutOfRangeException(nameof(steps), steps, "At least one step is needed.");

    public double Guidance { get; } = guidance;

    /// <summary>The noise levels for images of <paramref name="tokenCount"/> tokens, shifted for dev models.</summary>
    public float[] Sigmas(int tokenCount)
    {
        if (!_sigmas.TryGetValue(tokenCount, out var sigmas))
            _sigmas[tokenCount] = sigmas = TrainingSchedule.Sigmas(Steps, tokenCount, shift: Transformer.Config.GuidanceEmbed);
        return sigmas;
    }

    /// <summary>
    /// One example through the model: records a graph for the LoRA factors' gradients unless called under no_grad. The
    /// tensors belong to the caller's dispose scope.
    /// </summary>
    public ExampleForward Forward(TrainingExample example, NoiseDraw draw)
    {
        if (draw.TimestepIndex < 0 || draw.TimestepIndex >= Steps)
            throw new ArgumentOutOfRangeException(nameof(draw), draw.TimestepIndex, $"The timestep index must lie in [0, {Steps}).");
        float sigma = Sigmas(example.TokenCount)[draw.TimestepIndex];
        var device = example.CleanLatent.device;
        var clean = example.CleanLatent;
        var noise = draw.Noise;
        using var cleanShare = (1f - sigma).ToScalar();
        using var noiseShare = sigma.ToScalar();
        var noisy = (clean * cleanShare).add(noise * noiseShare, One);
        using var timestep = tensor(new[] { sigma }, device: device);
        using var guidanceInput = Transformer.Config.GuidanceEmbed ? tensor(new[] { (float)Guidance }, device: device) : null;
        var text = example.Text;
        var prediction = Transformer.Forward(noisy, example.ImageIds, text.Features, text.Ids, timestep, text.Pooled, guidanceInput)
            .to(ScalarType.Float32);
        var loss = (clean.add(prediction, One) - noise).pow(Two).mean();
        return new ExampleForward(sigma, noisy, prediction, noise - clean, loss);
    }
}
