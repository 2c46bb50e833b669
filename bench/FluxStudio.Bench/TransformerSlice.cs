using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// A FLUX.1-width transformer slice (hidden 3072, 24 heads of 128, one double and one single block) with fixed random
/// inputs: 1024 image and 256 text tokens (256 and 64 with --quick). Shared by the benches that time it.
/// </summary>
public sealed class TransformerSlice : IDisposable
{
    public static FluxConfig Config { get; } = FluxConfig.Dev with { Depth = 1, DepthSingleBlocks = 1 };

    private static readonly Scalar Timestep = 0.5f, Guidance = 3.5f;

    private readonly Tensor _img, _ids, _txt, _txtIds, _y, _t, _g;

    public TransformerSlice(BenchOptions options)
    {
        (ImageTokens, TextTokens) = options.Quick ? (256, 64) : (1024, 256);
        var generator = new Generator(11);
        int side = (int)Math.Sqrt(ImageTokens);
        _img = randn([1, ImageTokens, Config.InChannels], generator: generator);
        _ids = LatentPacking.ImageIds(1, side, ImageTokens / side);
        _txt = randn([1, TextTokens, Config.ContextInDim], generator: generator);
        _txtIds = LatentPacking.TextIds(1, TextTokens);
        _y = randn([1, Config.VecInDim], generator: generator);
        _t = full([1], Timestep);
        _g = full([1], Guidance);
    }

    public int ImageTokens { get; }

    public int TextTokens { get; }

    public string Tokens => $"{ImageTokens}+{TextTokens} tokens";

    /// <summary>The slice with random weights (the same for every call).</summary>
    public static FluxTransformer RandomModel(ScalarType dtype)
    {
        var model = new FluxTransformer(Config, dtype);
        Initialization.Randomize(model, new Generator(7));
        return model;
    }

    /// <summary>
    /// The model's linear layers, each with the rows it multiplies in one forward: the image stream's layers take the
    /// image tokens, the text stream's the text tokens, the single blocks' both, the embedders and modulations one row.
    /// </summary>
    public IReadOnlyList<(Linear Layer, long Rows)> LinearLayers(FluxTransformer model) =>
        model.named_modules().Where(m => m.module is Linear).Select(m => ((Linear)m.module, RowsOf(m.name))).ToList();

    private long RowsOf(string layer) => layer switch
    {
        _ when layer.Contains("mod", StringComparison.Ordinal) || layer.EndsWith("_layer", StringComparison.Ordinal) => 1,
        _ when layer.StartsWith("single_blocks", StringComparison.Ordinal) => ImageTokens + TextTokens,
        _ when layer.Contains("txt", StringComparison.Ordinal) => TextTokens,
        _ => ImageTokens,
    };

    /// <summary>Random q, k and v of the slice's joint attention: its heads over all its tokens, (1, H, L, D).</summary>
    public (Tensor Q, Tensor K, Tensor V) RandomAttentionInputs(ScalarType dtype, Generator generator)
    {
        Tensor Heads() => randn([1, Config.NumHeads, ImageTokens + TextTokens, Config.HeadDim], generator: generator).to(dtype);
        return (Heads(), Heads(), Heads());
    }

    public Tensor Forward(FluxTransformer model)
    {
        using var _ = no_grad();
        return model.Forward(_img, _ids, _txt, _txtIds, _t, _y, _g);
    }

    /// <summary>One forward pass, its tensors freed.</summary>
    public void Run(FluxTransformer model)
    {
        using (NewDisposeScope()) Forward(model);
        // As the sampler does after every step.
        NativeHeap.FreeStepLeftovers();
    }

    public void Dispose()
    {
        foreach (var tensor in new[] { _img, _ids, _txt, _txtIds, _y, _t, _g }) tensor.Dispose();
    }
}
