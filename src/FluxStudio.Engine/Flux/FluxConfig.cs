using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Hyper-parameters of the FLUX.1 transformer, as in Black Forest Labs' FluxParams. Everything else (head size,
/// RoPE widths) is derived from these.
/// </summary>
public sealed record FluxConfig(
    int InChannels,
    int OutChannels,
    int VecInDim,
    int ContextInDim,
    int HiddenSize,
    double MlpRatio,
    int NumHeads,
    int Depth,
    int DepthSingleBlocks,
    IReadOnlyList<int> AxesDim,
    double Theta,
    bool QkvBias,
    bool GuidanceEmbed)
{
    /// <summary>FLUX.1 [dev]: guidance-distilled, 512 T5 tokens, shifted schedule.</summary>
    public static FluxConfig Dev { get; } = new(64, 64, 768, 4096, 3072, 4.0, 24, 19, 38, [16, 56, 56], 10_000, true, true);

    /// <summary>FLUX.1 [schnell]: timestep-distilled, no guidance input, 256 T5 tokens, unshifted schedule.</summary>
    public static FluxConfig Schnell { get; } = Dev with { GuidanceEmbed = false };

    public int HeadDim => HiddenSize / NumHeads;

    public int MlpHiddenDim => (int)(HiddenSize * MlpRatio);

    /// <summary>T5 sequence length FLUX uses with this model: 512 for guidance-distilled (dev), 256 otherwise.</summary>
    public int T5SequenceLength => GuidanceEmbed ? 512 : 256;

    /// <summary>Throws when the numbers cannot describe a working model.</summary>
    public FluxConfig Validated()
    {
        if (HiddenSize <= 0 || NumHeads <= 0 || HiddenSize % NumHeads != 0)
            throw new InvalidDataException($"hidden size {HiddenSize} is not divisible by {NumHeads} heads.");
        if (AxesDim.Sum() != HeadDim)
            throw new InvalidDataException($"the RoPE axes [{string.Join(", ", AxesDim)}] must add up to the head size {HeadDim}.");
        if (AxesDim.Any(d => d <= 0 || d % 2 != 0))
            throw new InvalidDataException($"every RoPE axis width must be even and positive, got [{string.Join(", ", AxesDim)}].");
        if (InChannels <= 0 || OutChannels <= 0 || VecInDim <= 0 || ContextInDim <= 0 || Depth < 0 || DepthSingleBlocks < 0)
            throw new InvalidDataException("channel counts must be positive and block counts non-negative.");
        return this;
    }

    /// <summary>Reads BFL FluxParams names (in_channels, hidden_size, depth, …) from a JSON object.</summary>
    public static FluxConfig FromBflJson(JsonNode json) => new FluxConfig(
        InChannels: Int(json, "in_channels"),
        OutChannels: json["out_channels"] is { } outChannels ? outChannels.GetValue<int>() : Int(json, "in_channels"),
        VecInDim: Int(json, "vec_in_dim"),
        ContextInDim: Int(json, "context_in_dim"),
        HiddenSize: Int(json, "hidden_size"),
        MlpRatio: json["mlp_ratio"]?.GetValue<double>() ?? 4.0,
        NumHeads: Int(json, "num_heads"),
        Depth: Int(json, "depth"),
        DepthSingleBlocks: Int(json, "depth_single_blocks"),
        AxesDim: Ints(json, "axes_dim"),
        Theta: json["theta"]?.GetValue<double>() ?? 10_000,
        QkvBias: json["qkv_bias"]?.GetValue<bool>() ?? true,
        GuidanceEmbed: json["guidance_embed"]?.GetValue<bool>() ?? false).Validated();

    /// <summary>Reads a diffusers FluxTransformer2DModel config.json.</summary>
    public static FluxConfig FromDiffusersJson(JsonNode json)
    {
        int heads = Int(json, "num_attention_heads");
        int headDim = Int(json, "attention_head_dim");
        int inChannels = Int(json, "in_channels");
        int patch = json["patch_size"]?.GetValue<int>() ?? 1;
        if (patch != 1)
            throw new InvalidDataException($"patch_size {patch} is not supported; FLUX.1 uses 1.");
        return new FluxConfig(
            InChannels: inChannels,
            OutChannels: json["out_channels"] is JsonValue value && value.TryGetValue(out int outChannels) ? outChannels : inChannels,
            VecInDim: Int(json, "pooled_projection_dim"),
            ContextInDim: Int(json, "joint_attention_dim"),
            HiddenSize: heads * headDim,
            MlpRatio: 4.0,
            NumHeads: heads,
            Depth: Int(json, "num_layers"),
            DepthSingleBlocks: Int(json, "num_single_layers"),
            AxesDim: json["axes_dims_rope"] != null ? Ints(json, "axes_dims_rope") : [16, 56, 56],
            Theta: 10_000,
            QkvBias: true,
            GuidanceEmbed: json["guidance_embeds"]?.GetValue<bool>() ?? false).Validated();
    }

    public static FluxConfig FromFile(string configPath)
    {
        JsonNode json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(configPath)) ?? throw new InvalidDataException("empty JSON");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{configPath}: not a valid transformer config ({e.Message}).", e);
        }
        try
        {
            return json["num_attention_heads"] != null ? FromDiffusersJson(json) : FromBflJson(json);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{configPath}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Infers the configuration of a single-file (BFL-named) checkpoint from its tensor shapes. The RoPE axes cannot be
    /// read from shapes: FLUX.1's [16, 56, 56] is assumed for a head size of 128, anything else needs them given.
    /// </summary>
    public static FluxConfig InferFromBflWeights(ITensorSource weights, IReadOnlyList<int>? axesDim = null)
    {
        long[] Shape(string name) => weights.Contains(name)
            ? weights.Info(name).Shape
            : throw new InvalidDataException($"{weights.Description}: no tensor '{name}', so this is not a FLUX transformer in the single-file layout.");
        var imgIn = Shape("img_in.weight");
        int hidden = (int)imgIn[0];
        int headDim = (int)Shape("double_blocks.0.img_attn.norm.query_norm.scale")[0];
        int depth = CountBlocks(weights, "double_blocks.");
        int single = CountBlocks(weights, "single_blocks.");
        var axes = axesDim ?? (headDim == 128 ? [16, 56, 56]
            : throw new InvalidDataException(
                $"{weights.Description}: the head size is {headDim}, so the RoPE axes cannot be assumed; give them in a params file."));
        return new FluxConfig(
            InChannels: (int)imgIn[1],
            OutChannels: (int)Shape("final_layer.linear.weight")[0],
            VecInDim: (int)Shape("vector_in.in_layer.weight")[1],
            ContextInDim: (int)Shape("txt_in.weight")[1],
            HiddenSize: hidden,
            MlpRatio: Shape("double_blocks.0.img_mlp.0.weight")[0] / (double)hidden,
            NumHeads: hidden / headDim,
            Depth: depth,
            DepthSingleBlocks: single,
            AxesDim: axes,
            Theta: 10_000,
            QkvBias: weights.Contains("double_blocks.0.img_attn.qkv.bias"),
            GuidanceEmbed: weights.Contains("guidance_in.in_layer.weight")).Validated();
    }

    private static int CountBlocks(ITensorSource weights, string prefix) =>
        weights.Names.Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(name => int.Parse(name.AsSpan(prefix.Length, name.IndexOf('.', prefix.Length) - prefix.Length)))
            .DefaultIfEmpty(-1).Max() + 1;

    private static int Int(JsonNode json, string name) =>
        json[name]?.GetValue<int>() ?? throw new InvalidDataException($"the config has no \"{name}\".");

    private static int[] Ints(JsonNode json, string name) =>
        json[name]?.AsArray().Select(node => node!.GetValue<int>()).ToArray()
        ?? throw new InvalidDataException($"the config has no \"{name}\".");
}
