using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>The stack of CLIP text transformer blocks.</summary>
public sealed class ClipEncoder : nn.Module
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly ModuleList<ClipEncoderLayer> layers;
#pragma warning restore IDE1006

    public ClipEncoder(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(
            [.. Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, dtype, device))]);
        RegisterComponents();
    }

    /// <summary>Runs every block; <paramref name="hiddenStates"/>, when given, receives each block's output.</summary>
    public Tensor Forward(Tensor hidden, Tensor maskBias, List<Tensor>? hiddenStates)
    {
        foreach (var layer in layers)
        {
            hidden = layer.call(hidden, maskBias);
            hiddenStates?.Add(hidden);
        }
        return hidden;
    }
}
