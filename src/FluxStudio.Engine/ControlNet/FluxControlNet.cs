using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using TorchSharp;
using TorchSharp.Modules;
using Linear = FluxStudio.Engine.Layers.Linear;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// The FLUX ControlNet of InstantX (diffusers' <c>FluxControlNetModel</c>): a shallow copy of the transformer's trunk
/// whose image input also receives the packed control latent through <c>controlnet_x_embedder</c>. The image stream
/// after each of its blocks, projected by its own zero-initialised linear and scaled by the strength, is a residual
/// for the transformer (<see cref="BlockResiduals"/>).
/// </summary>
/// <remarks>
/// The trunk's parameters carry the transformer's BFL names (<c>double_blocks.0.img_attn.qkv.weight</c>), mapped from
/// the diffusers file by <see cref="FluxKeyMap"/>; the ControlNet's own layers keep their diffusers names.
/// </remarks>
public sealed class FluxControlNet : nn.Module, IFullPrecisionLayers
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Linear img_in;
    public readonly Linear controlnet_x_embedder;
    public readonly MLPEmbedder time_in;
    public readonly MLPEmbedder vector_in;
    public readonly MLPEmbedder? guidance_in;
    public readonly Linear txt_in;
    public readonly ModuleList<DoubleStreamBlock> double_blocks;
    public readonly ModuleList<SingleStreamBlock> single_blocks;
    public readonly ModuleList<Linear> controlnet_blocks;
    public readonly ModuleList<Linear> controlnet_single_blocks;
#pragma warning restore IDE1006

    private readonly EmbedND _peEmbedder;

    public FluxControlNet(FluxConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(FluxControlNet))
    {
        Config = config.Validated();
        DType = dtype;
        _peEmbedder = new EmbedND(config.Theta, config.AxesDim);
        img_in = new Linear(config.InChannels, config.HiddenSize, true, dtype, device);
        controlnet_x_embedder = new Linear(config.InChannels, config.HiddenSize, true, dtype, device);
        time_in = new MLPEmbedder(256, config.HiddenSize, dtype, device);
        vector_in = new MLPEmbedder(config.VecInDim, config.HiddenSize, dtype, device);
        if (config.GuidanceEmbed)
            guidance_in = new MLPEmbedder(256, config.HiddenSize, dtype, device);
        txt_in = new Linear(config.ContextInDim, config.HiddenSize, true, dtype, device);
        double_blocks = nn.ModuleList(Enumerable.Range(0, config.Depth).Select(_ => new DoubleStreamBlock(config, dtype, device)).ToArray());
        single_blocks = nn.ModuleList(Enumerable.Range(0, config.DepthSingleBlocks).Select(_ => new SingleStreamBlock(config, dtype, device)).ToArray());
        controlnet_blocks = nn.ModuleList(Enumerable.Range(0, config.Depth).Select(_ => Projection(config, dtype, device)).ToArray());
        controlnet_single_blocks = nn.ModuleList(Enumerable.Range(0, config.DepthSingleBlocks).Select(_ => Projection(config, dtype, device)).ToArray());
        RegisterComponents();
    }

    /// <summary>The trunk's sizes, in the transformer's terms: <see cref="FluxConfig.Depth"/> double and <see cref="FluxConfig.DepthSingleBlocks"/> single blocks.</summary>
    public FluxConfig Config { get; }

    public ScalarType DType { get; }

    private static Linear Projection(FluxConfig config, ScalarType dtype, Device? device) =>
        new(config.HiddenSize, config.HiddenSize, true, dtype, device);

    /// <summary>
    /// The input embedders and the residual projections stay dense when the blocks are quantized, for the transformer's
    /// reason: the embedders feed every block and the projections are added to the transformer's stream undamped.
    /// </summary>
    private static readonly string[] FullPrecisionParts =
        ["img_in", "controlnet_x_embedder", "txt_in", "time_in", "vector_in", "guidance_in", "controlnet_blocks", "controlnet_single_blocks"];

    public bool StaysFullPrecision(string layerName) =>
        FullPrecisionParts.Any(part => layerName == part || layerName.StartsWith(part + ".", StringComparison.Ordinal));

    /// <summary>Bytes held by the weights (quantized storage included), for memory estimates.</summary>
    public long ParameterBytes => Quantizer.ResidentBytes(this);

    /// <summary>
    /// The <see cref="ParameterBytes"/> the ControlNet in <paramref name="folder"/> will hold once loaded at
    /// <paramref name="dtype"/>, quantized to <paramref name="quantizeBits"/> or dense, read from its config alone: the
    /// model is laid out on PyTorch's meta device, which allocates nothing.
    /// </summary>
    public static long EstimateParameterBytes(string folder, ScalarType dtype, int? quantizeBits = null)
    {
        using var scope = NewDisposeScope();
        using var model = new FluxControlNet(ReadConfig(folder), dtype, new Device(TorchSharp.DeviceType.META));
        if (quantizeBits is { } bits) Quantizer.PrepareForQuantizedLoading(model, bits);
        return model.ParameterBytes;
    }

    /// <param name="img">Packed image latents (B, L_img, in_channels), the transformer's input of this step.</param>
    /// <param name="control">The packed control latent (B, L_img, in_channels).</param>
    /// <param name="imgIds">Position ids (B, L_img, 3).</param>
    /// <param name="txt">T5 features (B, L_txt, context_in_dim).</param>
    /// <param name="txtIds">Text position ids (B, L_txt, 3).</param>
    /// <param name="timesteps">t ∈ [0, 1] per batch element.</param>
    /// <param name="y">Pooled CLIP vector (B, vec_in_dim).</param>
    /// <param name="guidance">Guidance scale per batch element; required exactly when this ControlNet embeds guidance.</param>
    /// <param name="strength">Multiplies every residual (diffusers' <c>controlnet_conditioning_scale</c>).</param>
    /// <param name="observe">Receives named intermediate tensors (for checking against a reference); may be null.</param>
    public BlockResiduals Forward(Tensor img, Tensor control, Tensor imgIds, Tensor txt, Tensor txtIds, Tensor timesteps, Tensor y,
        Tensor? guidance, double strength, Action<string, Tensor>? observe = null)
    {
        if (Config.GuidanceEmbed && guidance is null)
            throw new ArgumentException("This ControlNet embeds a guidance scale: pass one.", nameof(guidance));
        using var scope = NewDisposeScope();

        var vec = FluxTransformer.ConditioningVector(time_in, guidance_in, vector_in, timesteps, guidance, y, DType);
        observe?.Invoke("vec", vec);
        var pe = _peEmbedder.Forward(cat([txtIds, imgIds], 1));

        var embedded = img_in.forward(img.to(DType));
        var controlEmbedded = controlnet_x_embedder.forward(control.to(DType));
        observe?.Invoke("img_in", embedded);
        observe?.Invoke("controlnet_x_embedder", controlEmbedded);
        var imgHidden = embedded.add(controlEmbedded, One);
        var txtHidden = txt_in.forward(txt.to(DType));

        var doubleResiduals = new List<Tensor>();
        for (int i = 0; i < double_blocks.Count; i++)
        {
            (imgHidden, txtHidden) = double_blocks[i].Forward(imgHidden, txtHidden, vec, pe);
            observe?.Invoke($"double_blocks.{i}.img", imgHidden);
            doubleResiduals.Add(Residual(controlnet_blocks[i], imgHidden, strength));
        }

        long textLength = txt.shape[1];
        var joint = cat([txtHidden, imgHidden], 1);
        var singleResiduals = new List<Tensor>();
        for (int i = 0; i < single_blocks.Count; i++)
        {
            joint = single_blocks[i].Forward(joint, vec, pe);
            var image = joint.narrow(1, textLength, joint.shape[1] - textLength);
            observe?.Invoke($"single_blocks.{i}.img", image);
            singleResiduals.Add(Residual(controlnet_single_blocks[i], image, strength));
        }
        return new BlockResiduals(doubleResiduals, singleResiduals);
    }

    private static Tensor Residual(Linear projection, Tensor hidden, double strength)
    {
        using var scale = ((float)strength).ToScalar();
        return (projection.forward(hidden) * scale).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Reads the ControlNet's <c>config.json</c> (diffusers' <c>FluxControlNetModel</c> keys) as the sizes of its trunk.
    /// Only the InstantX kind is supported: the control latent enters through one linear layer, with no union modes.
    /// </summary>
    public static FluxConfig ReadConfig(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"{folder}: no config.json. A ControlNet folder holds config.json and diffusion_pytorch_model.safetensors, as InstantX/FLUX.1-dev-Controlnet-Canny publishes them.",
                path);
        JsonNode json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException("empty JSON");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: not a valid ControlNet config ({e.Message}).", e);
        }
        if (json["_class_name"]?.GetValue<string>() is { } className && className != "FluxControlNetModel")
            throw new InvalidDataException($"{path}: a {className}, not a FLUX ControlNet (FluxControlNetModel).");
        if (json["conditioning_embedding_channels"] is JsonValue || json["num_mode"] is JsonValue)
            throw new InvalidDataException(
                $"{path}: this ControlNet takes its image through an input hint block or has union modes; only InstantX-style ControlNets " +
                "(such as InstantX/FLUX.1-dev-Controlnet-Canny) are supported.");
        try
        {
            return FluxConfig.FromDiffusersJson(json);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Throws unless a ControlNet of <paramref name="controlNet"/>'s sizes can guide a transformer of <paramref name="transformer"/>'s.</summary>
    /// <exception cref="InvalidDataException">The sizes differ; the message names them.</exception>
    public static void CheckFits(FluxConfig controlNet, FluxConfig transformer, string where)
    {
        string Sizes(FluxConfig c) =>
            $"{c.InChannels} latent channels, hidden size {c.HiddenSize} in {c.NumHeads} heads, RoPE axes [{string.Join(", ", c.AxesDim)}], " +
            $"text features {c.ContextInDim}, pooled vector {c.VecInDim}";
        var (a, b) = (controlNet, transformer);
        if (a.InChannels != b.InChannels || a.HiddenSize != b.HiddenSize || a.NumHeads != b.NumHeads || !a.AxesDim.SequenceEqual(b.AxesDim)
            || a.ContextInDim != b.ContextInDim || a.VecInDim != b.VecInDim)
            throw new InvalidDataException(
                $"{where}: this ControlNet is made for a transformer with {Sizes(a)}, but the model has {Sizes(b)}. Use a ControlNet made for this FLUX.1 model.");
    }

    /// <summary>
    /// Loads a ControlNet folder (config.json + diffusion_pytorch_model.safetensors), dense or with its blocks quantized to
    /// <paramref name="quantizeBits"/> while loading. The trunk's diffusers names are mapped to BFL's; the ControlNet's
    /// own layers keep theirs.
    /// </summary>
    public static FluxControlNet Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null, int? quantizeBits = null)
    {
        var config = ReadConfig(folder);
        using var weights = TensorSources.Open(folder);
        var canonical = FluxKeyMap.FromDiffusers(weights, config);
        var model = new FluxControlNet(config, dtype, device);
        try
        {
            if (quantizeBits is { } bits)
                QuantizedModels.FillQuantizing(model, canonical, bits);
            else
                WeightLoader.Load(model, canonical);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
