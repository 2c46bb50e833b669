using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using TorchSharp.Modules;
using Linear = FluxStudio.Engine.Layers.Linear;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// The FLUX.1 rectified-flow transformer: predicts the velocity of packed image latents given text features,
/// the pooled text vector, the timestep and (for guidance-distilled models) the guidance scale.
/// Parameter names are those of Black Forest Labs' single-file checkpoints.
/// </summary>
public sealed class FluxTransformer : nn.Module, IFullPrecisionLayers
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear img_in;
    public readonly MLPEmbedder time_in;
    public readonly MLPEmbedder vector_in;
    public readonly MLPEmbedder? guidance_in;
    public readonly Linear txt_in;
    public readonly ModuleList<DoubleStreamBlock> double_blocks;
    public readonly ModuleList<SingleStreamBlock> single_blocks;
    public readonly LastLayer final_layer;
#pragma warning restore IDE1006

    private readonly EmbedND _peEmbedder;

    public FluxTransformer(FluxConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(FluxTransformer))
    {
        Config = config.Validated();
        DType = dtype;
        _peEmbedder = new EmbedND(config.Theta, config.AxesDim);
        img_in = new Linear(config.InChannels, config.HiddenSize, true, dtype, device);
        time_in = new MLPEmbedder(256, config.HiddenSize, dtype, device);
        vector_in = new MLPEmbedder(config.VecInDim, config.HiddenSize, dtype, device);
        if (config.GuidanceEmbed)
            guidance_in = new MLPEmbedder(256, config.HiddenSize, dtype, device);
        txt_in = new Linear(config.ContextInDim, config.HiddenSize, true, dtype, device);
        double_blocks = nn.ModuleList(Enumerable.Range(0, config.Depth).Select(_ => new DoubleStreamBlock(config, dtype, device)).ToArray());
        single_blocks = nn.ModuleList(Enumerable.Range(0, config.DepthSingleBlocks).Select(_ => new SingleStreamBlock(config, dtype, device)).ToArray());
        final_layer = new LastLayer(config, dtype, device);
        RegisterComponents();
    }

    public FluxConfig Config { get; }

    public ScalarType DType { get; }

    /// <summary>
    /// The input embedders and the final layer: about 0.5 % of FLUX.1's weights, but they feed the blocks or form the
    /// output directly, so their quantization error reaches the prediction undamped. Other FLUX quantizers keep them
    /// dense for this reason; on the fixture model it cuts the 8-bit output error from 1.4 % to 0.8 %.
    /// </summary>
    private static readonly string[] FullPrecisionParts = ["img_in", "txt_in", "time_in", "vector_in", "guidance_in", "final_layer"];

    public bool StaysFullPrecision(string layerName) =>
        FullPrecisionParts.Any(part => layerName == part || layerName.StartsWith(part + ".", StringComparison.Ordinal));

    /// <param name="img">Packed image latents (B, L_img, in_channels).</param>
    /// <param name="imgIds">Position ids (B, L_img, 3).</param>
    /// <param name="txt">T5 features (B, L_txt, context_in_dim).</param>
    /// <param name="txtIds">Text position ids (B, L_txt, 3), zeros.</param>
    /// <param name="timesteps">t ∈ [0, 1] per batch element.</param>
    /// <param name="y">Pooled CLIP vector (B, vec_in_dim).</param>
    /// <param name="guidance">Guidance scale per batch element; required exactly when the model embeds guidance.</param>
    /// <param name="observe">Receives named intermediate tensors (for checking against a reference); may be null.</param>
    /// <param name="residuals">Added to the image tokens after the blocks (a ControlNet's output); may be null.</param>
    /// <returns>The predicted velocity (B, L_img, out_channels).</returns>
    public Tensor Forward(Tensor img, Tensor imgIds, Tensor txt, Tensor txtIds, Tensor timesteps, Tensor y,
        Tensor? guidance = null, Action<string, Tensor>? observe = null, BlockResiduals? residuals = null)
    {
        if (Config.GuidanceEmbed && guidance is null)
            throw new ArgumentException("This model embeds a guidance scale (FLUX.1 dev): pass one.", nameof(guidance));
        using var scope = NewDisposeScope();

        var vec = ConditioningVector(time_in, guidance_in, vector_in, timesteps, guidance, y, DType);
        observe?.Invoke("vec", vec);

        var pe = _peEmbedder.Forward(cat([txtIds, imgIds], 1));
        observe?.Invoke("pe", pe);

        var imgHidden = img_in.forward(img.to(DType));
        var txtHidden = txt_in.forward(txt.to(DType));
        for (int i = 0; i < double_blocks.Count; i++)
        {
            (imgHidden, txtHidden) = RunBlock(double_blocks[i], imgHidden, txtHidden, vec, pe);
            if (residuals?.ForDoubleBlock(i, double_blocks.Count) is { } residual)
                imgHidden = imgHidden.add(residual.to(DType), One);
            observe?.Invoke($"double_blocks.{i}.img", imgHidden);
            observe?.Invoke($"double_blocks.{i}.txt", txtHidden);
        }

        long textLength = txt.shape[1];
        var joint = cat([txtHidden, imgHidden], 1);
        for (int i = 0; i < single_blocks.Count; i++)
        {
            joint = RunBlock(single_blocks[i], joint, vec, pe);
            if (residuals?.ForSingleBlock(i, single_blocks.Count) is { } residual)
                joint = cat([joint.narrow(1, 0, textLength), joint.narrow(1, textLength, joint.shape[1] - textLength).add(residual.to(DType), One)], 1);
            observe?.Invoke($"single_blocks.{i}.out", joint);
        }

        imgHidden = joint.narrow(1, textLength, joint.shape[1] - textLength);
        return final_layer.Forward(imgHidden, vec).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs every block when set (training: gradient checkpointing, see <see cref="IBlockRunner"/>); null calls the blocks
    /// directly.
    /// </summary>
    public IBlockRunner? BlockRunner { get; set; }

    private (Tensor Img, Tensor Txt) RunBlock(DoubleStreamBlock block, Tensor img, Tensor txt, Tensor vec, Tensor pe)
    {
        if (BlockRunner is null) return block.Forward(img, txt, vec, pe);
        var outputs = BlockRunner.Run(block, inputs =>
        {
            var (imgOut, txtOut) = block.Forward(inputs[0], inputs[1], inputs[2], inputs[3]);
            return [imgOut, txtOut];
        }, [img, txt, vec, pe]);
        return (outputs[0], outputs[1]);
    }

    private Tensor RunBlock(SingleStreamBlock block, Tensor x, Tensor vec, Tensor pe) =>
        BlockRunner is null
            ? block.Forward(x, vec, pe)
            : BlockRunner.Run(block, inputs => [block.Forward(inputs[0], inputs[1], inputs[2])], [x, vec, pe])[0];

    /// <summary>
    /// The vector that modulates every block: embedded timestep, plus embedded guidance for guidance-distilled models,
    /// plus the embedded pooled text vector. A ControlNet computes it with its own embedders in the same way.
    /// </summary>
    internal static Tensor ConditioningVector(MLPEmbedder timeIn, MLPEmbedder? guidanceIn, MLPEmbedder vectorIn,
        Tensor timesteps, Tensor? guidance, Tensor y, ScalarType dtype)
    {
        var vec = timeIn.forward(TimestepEmbedding.Sinusoidal(timesteps).to(dtype));
        if (guidanceIn != null)
            vec = vec.add(guidanceIn.forward(TimestepEmbedding.Sinusoidal(guidance!).to(dtype)), One);
        return vec.add(vectorIn.forward(y.to(dtype)), One);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _peEmbedder.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Loads weights in either layout (BFL single-file names, or diffusers names, mapped).</summary>
    public void LoadWeights(ITensorSource weights, Func<string, bool>? ignoreUnexpected = null) =>
        WeightLoader.Load(this, CanonicalWeights(weights, Config), ignoreUnexpected);

    /// <summary>The weights under BFL single-file names, whichever layout they are stored in.</summary>
    internal static ITensorSource CanonicalWeights(ITensorSource weights, FluxConfig config) =>
        FluxKeyMap.IsDiffusers(weights) ? FluxKeyMap.FromDiffusers(weights, config) : weights;

    /// <summary>
    /// Loads a transformer from a diffusers folder (config.json + weights, possibly sharded) or a single
    /// BFL-layout file (config from a FluxParams JSON when given, else inferred from the tensor shapes).
    /// </summary>
    public static FluxTransformer Load(string path, ScalarType dtype = ScalarType.Float32, Device? device = null,
        string? paramsJson = null)
    {
        using var weights = TensorSources.Open(path);
        var model = new FluxTransformer(ReadConfig(path, weights, paramsJson), dtype, device);
        try
        {
            model.LoadWeights(weights);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The configuration of a transformer checkpoint, read without loading its weights.</summary>
    public static FluxConfig ReadConfig(string path, string? paramsJson = null)
    {
        using var weights = TensorSources.Open(path);
        return ReadConfig(path, weights, paramsJson);
    }

    internal static FluxConfig ReadConfig(string path, ITensorSource weights, string? paramsJson)
    {
        var folderConfig = Directory.Exists(path) ? Path.Combine(path, "config.json") : null;
        if (paramsJson != null) return FluxConfig.FromFile(paramsJson);
        if (folderConfig != null && File.Exists(folderConfig)) return FluxConfig.FromFile(folderConfig);
        if (FluxKeyMap.IsDiffusers(weights))
            throw new InvalidDataException($"{path}: diffusers-layout weights need their config.json next to them.");
        return FluxConfig.InferFromBflWeights(weights);
    }
}
