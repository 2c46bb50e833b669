using TorchSharp;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Text.T5;

/// <summary>T5 v1.1's gated feed-forward: wo(act(wi_0·x) ⊙ wi_1·x), without biases.</summary>
public sealed class T5GatedFeedForward : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Linear wi_0;
    private readonly Linear wi_1;
    private readonly Linear wo;
#pragma warning restore IDE1006
    private readonly T5Activation _activation;

    public T5GatedFeedForward(T5EncoderConfig config, ScalarType dtype, Device device) : base(nameof(T5GatedFeedForward))
    {
        _activation = config.FeedForwardActivation;
        wi_0 = new Linear(config.DModel, config.DFf, hasBias: false, dtype, device);
        wi_1 = new Linear(config.DModel, config.DFf, hasBias: false, dtype, device);
        wo = new Linear(config.DFf, config.DModel, hasBias: false, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => wo.call(Activate(wi_0.call(hidden)) * wi_1.call(hidden));

    private Tensor Activate(Tensor x) => _activation switch
    {
        T5Activation.GeluTanh => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        T5Activation.Gelu => nn.functional.gelu(x),
        T5Activation.Relu => nn.functional.relu(x),
        T5Activation.Silu => nn.functional.silu(x),
        _ => throw new InvalidOperationException($"Unknown T5 activation {_activation}."),
    };
}
