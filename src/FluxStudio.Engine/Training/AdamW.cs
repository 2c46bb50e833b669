using FluxStudio.Engine.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <param name="BiasCorrection">True: PyTorch's form (moments divided by 1 − βᵏ); false: MLX's default, without.</param>
public sealed record AdamWSettings(
    double LearningRate,
    double Beta1 = AdamWSettings.DefaultBeta1,
    double Beta2 = AdamWSettings.DefaultBeta2,
    double Eps = AdamWSettings.DefaultEps,
    double WeightDecay = AdamWSettings.DefaultWeightDecay,
    bool BiasCorrection = true)
{
    public const double DefaultBeta1 = 0.9;
    public const double DefaultBeta2 = 0.999;
    public const double DefaultEps = 1e-8;
    public const double DefaultWeightDecay = 0.01;
}

/// <summary>
/// AdamW with decoupled weight decay, in float32, in either of two forms that differ only in the bias correction:
/// <list type="bullet">
/// <item>PyTorch's <c>torch.optim.AdamW</c>: p ← p(1 − lr·wd); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// p ← p − lr/(1 − β₁ᵏ) · m / (√v / √(1 − β₂ᵏ) + ε).</item>
/// <item>MLX's <c>AdamW</c> as the original app's trainer runs it: the same decay and moments, then
/// p ← p − lr·m / (√v + ε).</item>
/// </list>
/// Each form follows its library's order of float32 operations. The state (step count, learning rate, moments) is saved
/// as the original app's optimizer file: MLX's state flattened, moments in MLX's orientation (the transpose of ours).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _parameters;
    private readonly Tensor[] _expAvg;
    private readonly Tensor[] _expAvgSq;

    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWSettings settings)
    {
        _parameters = [.. parameters];
        Settings = settings;
        LearningRate = settings.LearningRate;
        _expAvg = [.. _parameters.Select(p => zeros_like(p.Parameter, ScalarType.Float32).DetachFromDisposeScope())];
        _expAvgSq = [.. _parameters.Select(p => zeros_like(p.Parameter, ScalarType.Float32).DetachFromDisposeScope())];
    }

    public AdamWSettings Settings { get; }

    /// <summary>Updates made so far (k of the last update).</summary>
    public long StepCount { get; private set; }

    public double LearningRate { get; set; }

    /// <summary>The first moment m of the named parameter (a live view of the state).</summary>
    public Tensor ExpAvg(string name) => _expAvg[IndexOf(name)];

    /// <summary>The second moment v of the named parameter (a live view of the state).</summary>
    public Tensor ExpAvgSq(string name) => _expAvgSq[IndexOf(name)];

    public void ZeroGrad()
    {
        foreach (var (_, parameter) in _parameters) parameter.grad?.zero_();
    }

    /// <summary>One update from the parameters' gradients (a parameter without one counts as a zero gradient).</summary>
    public void Step()
    {
        using var _ = no_grad();
        StepCount++;
        for (int i = 0; i < _parameters.Count; i++)
        {
            using var scope = NewDisposeScope();
            var parameter = _parameters[i].Parameter;
            var gradient = parameter.grad ?? zeros_like(parameter);
            if (Settings.BiasCorrection) TorchStep(parameter, gradient, _expAvg[i], _expAvgSq[i]);
            else MlxStep(parameter, gradient, _expAvg[i], _expAvgSq[i]);
        }
    }

    /// <summary>torch.optim.AdamW's single-tensor update; Python floats enter each kernel as float32 scalars.</summary>
    private void TorchStep(Tensor parameter, Tensor gradient, Tensor m, Tensor v)
    {
        var s = Settings;
        double lr = LearningRate;
        double correction1 = 1 - Math.Pow(s.Beta1, StepCount);
        double correction2Sqrt = Math.Sqrt(1 - Math.Pow(s.Beta2, StepCount));
        using Scalar decay = 1 - lr * s.WeightDecay, beta1 = s.Beta1, gradientShare = 1 - s.Beta1, beta2 = s.Beta2,
            squareShare = 1 - s.Beta2, correction2 = correction2Sqrt, eps = s.Eps, stepSize = -(lr / correction1);
        parameter.mul_(decay);
        m.mul_(beta1).add_(gradient, alpha: gradientShare);
        v.mul_(beta2).addcmul_(gradient, gradient, value: squareShare);
        using var denominator = v.sqrt().div_(correction2).add_(eps, One);
        parameter.addcdiv_(m, denominator, value: stepSize);
    }

    /// <summary>MLX's AdamW without bias correction: scalars are float32 arrays, combined in float32 before they meet the tensors.</summary>
    private void MlxStep(Tensor parameter, Tensor gradient, Tensor m, Tensor v)
    {
        var s = Settings;
        float lr = (float)LearningRate;
        using Scalar decay = 1f - lr * (float)s.WeightDecay, beta1 = (float)s.Beta1, gradientShare = (float)(1 - s.Beta1),
            beta2 = (float)s.Beta2, squareShare = (float)(1 - s.Beta2), rate = lr, eps = (float)s.Eps;
        parameter.mul_(decay);
        m.mul_(beta1).add_(gradient.mul(gradientShare), One);
        v.mul_(beta2).add_(gradient.pow(Two).mul_(squareShare), One);
        using var update = m.mul(rate).div_(v.sqrt().add_(eps, One));
        parameter.sub_(update);
    }

    private const string StepKey = "step";
    private const string LearningRateKey = "learning_rate";

    /// <summary>
    /// Writes the state as the original app's <c>optimizer.safetensors</c>: <c>step</c>, <c>learning_rate</c> (F32) and
    /// <c>&lt;name&gt;.m</c>, <c>&lt;name&gt;.v</c> for every parameter, transposed to MLX's orientation. The step count is
    /// stored as I64 where MLX writes U64 (libtorch has no unsigned 64-bit type); MLX reads either as its step.
    /// </summary>
    /// <param name="checkpointName">The original app's name of a parameter, from ours.</param>
    public void Save(string path, Func<string, string> checkpointName)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new(StepKey, tensor(StepCount)),
            new(LearningRateKey, tensor((float)LearningRate)),
        };
        for (int i = 0; i < _parameters.Count; i++)
        {
            string name = checkpointName(_parameters[i].Name);
            tensors.Add(new($"{name}.m", _expAvg[i].t()));
            tensors.Add(new($"{name}.v", _expAvgSq[i].t()));
        }
        SafetensorsWriter.Write(path, tensors);
    }

    /// <summary>Restores a state written by <see cref="Save"/> (or by the original app) for the same parameters.</summary>
    /// <exception cref="FormatException">The file lacks a moment of some parameter, or their shapes differ.</exception>
    public void Load(string path, Func<string, string> checkpointName)
    {
        using var file = SafetensorsFile.Open(path);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var key in new[] { StepKey, LearningRateKey })
            if (!file.Contains(key)) throw new FormatException($"{path}: no '{key}' in this optimizer state.");
        for (int i = 0; i < _parameters.Count; i++)
        {
            string name = checkpointName(_parameters[i].Name);
            foreach (var (suffix, target) in new[] { (".m", _expAvg[i]), (".v", _expAvgSq[i]) })
            {
                if (!file.Contains(name + suffix))
                    throw new FormatException($"{path}: the optimizer state has no '{name}{suffix}'; it belongs to another LoRA configuration.");
                var stored = file.Load(name + suffix, ScalarType.Float32).t();
                if (!stored.shape.SequenceEqual(target.shape))
                    throw new FormatException($"{path}: '{name}{suffix}' has shape [{string.Join(", ", stored.shape.Reverse())}], " +
                        $"not [{string.Join(", ", target.shape.Reverse())}].");
                target.copy_(stored);
            }
        }
        StepCount = file.Load(StepKey).reshape(1)[0].item<long>();
        // Stored in float32: a rate that rounds to it is the same setting, and keeps its double value for PyTorch's form.
        float storedRate = file.Load(LearningRateKey, ScalarType.Float32).reshape(1)[0].item<float>();
        if ((float)LearningRate != storedRate) LearningRate = storedRate;
    }

    private int IndexOf(string name)
    {
        for (int i = 0; i < _parameters.Count; i++)
            if (_parameters[i].Name == name) return i;
        throw new KeyNotFoundException($"No parameter named '{name}'.");
    }

    public void Dispose()
    {
        foreach (var tensor in _expAvg.Concat(_expAvgSq)) tensor.Dispose();
    }
}
