using TorchSharp;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>fc2(act(fc1(x))), with CLIP's quick GELU by default.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private static readonly Scalar QuickGeluSlope = 1.702;

#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Linear fc1;
    private readonly Linear fc2;
#pragma warning restore IDE1006
    private readonly ClipActivation _activation;

    public ClipMlp(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipMlp))
    {
        _activation = config.HiddenAct;
        fc1 = new Linear(config.HiddenSize, config.IntermediateSize, hasBias: true, dtype, device);
        fc2 = new Linear(config.IntermediateSize, config.HiddenSize, hasBias: true, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => fc2.call(Activate(fc1.call(hidden)));

    private Tensor Activate(Tensor x) => _activation switch
    {
        ClipActivation.QuickGelu => x * (QuickGeluSlope * x).sigmoid(),
        ClipActivation.Gelu => nn.functional.gelu(x),
        _ => throw new InvalidOperationException($"Unknown CLIP activation {_activation}."),
    };
}
