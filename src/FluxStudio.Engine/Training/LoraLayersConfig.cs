using System.Text.Json.Serialization;
using FluxStudio.Engine.Flux;

namespace FluxStudio.Engine.Training;

/// <summary>
/// Which linear layers get a trainable LoRA: for the joint (<c>transformer_blocks</c>) and the single
/// (<c>single_transformer_blocks</c>) blocks each, a block range, the layer types and a rank, as the original app's
/// configuration names them.
/// </summary>
public sealed record LoraLayersConfig
{
    /// <summary>The original app's choice: every single block, its attention and MLP projections, rank 4.</summary>
    public static LoraLayersConfig OriginalDefault { get; } = new()
    {
        SingleTransformerBlocks = new LoraBlocksConfig(new BlockRange(Start: 0, End: 38), ["proj_out", "proj_mlp", "attn.to_q", "attn.to_k", "attn.to_v"], 4),
    };

    public LoraBlocksConfig? TransformerBlocks { get; init; }

    public LoraBlocksConfig? SingleTransformerBlocks { get; init; }

    /// <summary>How the factors start (default <see cref="LoraInitialization.Peft"/>).</summary>
    public LoraInitialization? Initialization { get; init; }

    internal IEnumerable<ConfigProblem> Problems()
    {
        if (TransformerBlocks is null && SingleTransformerBlocks is null)
            yield return new("single_transformer_blocks",
                "Choose at least one group of layers to train (transformer_blocks or single_transformer_blocks).");
        foreach (var (group, blocks, names) in Groups())
        {
            if (blocks.LoraRank < 1)
                yield return new($"{group}.lora_rank", $"{group}: lora_rank must be at least 1, not {blocks.LoraRank}.");
            if (blocks.LayerTypes.Count == 0)
                yield return new($"{group}.layer_types", $"{group}: list at least one layer type ({string.Join(", ", names.Keys)}).");
            foreach (var type in blocks.LayerTypes.Where(type => !names.ContainsKey(type)))
                yield return new($"{group}.layer_types", $"{group}: unknown layer type \"{type}\"; use {string.Join(", ", names.Keys)}.");
            foreach (var type in blocks.LayerTypes.GroupBy(t => t).Where(g => g.Count() > 1))
                yield return new($"{group}.layer_types", $"{group}: layer type \"{type.Key}\" is listed twice.");
            if (blocks.BlockRange.Problem() is { } problem)
                yield return new($"{group}.block_range", $"{group}: {problem}");
        }
    }

    /// <summary>The configured groups by their configuration name, with the layer types each accepts.</summary>
    internal IEnumerable<(string Group, LoraBlocksConfig Blocks, IReadOnlyDictionary<string, LoraLayerType> Types)> Groups()
    {
        if (TransformerBlocks is { } joint) yield return ("transformer_blocks", joint, LoraLayerType.Joint);
        if (SingleTransformerBlocks is { } single) yield return ("single_transformer_blocks", single, LoraLayerType.Single);
    }

    /// <summary>The block indices of a group for a model with these block counts; throws when a block does not exist.</summary>
    internal static IReadOnlyList<int> Blocks(string group, BlockRange range, FluxConfig config)
    {
        int count = group == "transformer_blocks" ? config.Depth : config.DepthSingleBlocks;
        var indices = range.Indices();
        foreach (int index in indices)
        {
            if (index < 0 || index >= count)
                throw new ArgumentException(
                    $"{group}: this model has {count} of these blocks (0 to {count - 1}), so block {index} does not exist. Change the block range.");
        }
        return indices;
    }
}

/// <param name="BlockRange">Which blocks of the group.</param>
/// <param name="LayerTypes">Layer names inside a block, as the original app spells them (<c>attn.to_q</c>, <c>proj_mlp</c>, …).</param>
/// <param name="LoraRank">The rank r of every factor pair.</param>
public sealed record LoraBlocksConfig(BlockRange BlockRange, IReadOnlyList<string> LayerTypes, int LoraRank);

/// <summary>Blocks [Start, End), or the listed <see cref="Indices"/> (which win when given), as the original app reads them.</summary>
public sealed record BlockRange(int? Start = null, int? End = null, [property: JsonPropertyName("indices")] IReadOnlyList<int>? IndexList = null)
{
    public IReadOnlyList<int> Indices()
    {
        if (IndexList is { Count: > 0 } list) return list;
        if (Start is { } start && End is { } end) return [.. Enumerable.Range(start, Math.Max(0, end - start))];
        throw new ArgumentException(Problem());
    }

    internal string? Problem()
    {
        if (IndexList is { Count: > 0 } list)
            return list.Distinct().Count() == list.Count ? null : "block_range.indices lists a block twice.";
        if (Start is null || End is null)
            return "block_range needs start and end (end not included), or a list of indices.";
        return End > Start && Start >= 0 ? null : $"block_range start {Start} to end {End} holds no block; end must be above start.";
    }
}

/// <summary>How LoRA factors start; A is uniform in ±1/√in either way.</summary>
public enum LoraInitialization
{
    /// <summary>B = 0, so training starts from the unchanged model (PEFT's default).</summary>
    Peft,

    /// <summary>B uniform in ±1/√in as well, as the original app's trainer does: the LoRA changes the model from the first step.</summary>
    Mflux,
}
