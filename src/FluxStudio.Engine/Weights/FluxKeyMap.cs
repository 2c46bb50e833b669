using FluxStudio.Engine.Flux;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// Maps diffusers FluxTransformer2DModel names onto our canonical (BFL single-file) names: q, k, v (and the
/// single blocks' MLP input) are fused back into one matrix, and the final modulation's (scale, shift) halves
/// are swapped back to BFL's (shift, scale) order.
/// </summary>
public static class FluxKeyMap
{
    public static bool IsDiffusers(ITensorSource weights) =>
        weights.Contains("x_embedder.weight") || weights.Names.Any(n => n.StartsWith("transformer_blocks.", StringComparison.Ordinal));

    public static ITensorSource FromDiffusers(ITensorSource weights, FluxConfig config) =>
        new MappedTensorSource(weights, Recipes(config), "diffusers");

    /// <summary>
    /// Rows of a diffusers tensor fused whole into one of ours, which a recipe alone cannot tell: q, k and v have the
    /// hidden size, the single blocks' MLP input (<c>proj_mlp</c>) the MLP width.
    /// </summary>
    public static long FusedPartRows(string sourceName, FluxConfig config) =>
        sourceName.Contains("proj_mlp", StringComparison.Ordinal) ? config.MlpHiddenDim : config.HiddenSize;

    public static IReadOnlyDictionary<string, TensorRecipe> Recipes(FluxConfig config)
    {
        var map = new Dictionary<string, TensorRecipe>(StringComparer.Ordinal);
        void Linear(string ours, params string[] theirs)
        {
            foreach (var kind in new[] { "weight", "bias" })
                map[$"{ours}.{kind}"] = new TensorRecipe(theirs.Select(t => new TensorPart($"{t}.{kind}")).ToList());
        }
        void Norm(string ours, string theirs) => map[$"{ours}.scale"] = TensorRecipe.Rename($"{theirs}.weight");

        Linear("img_in", "x_embedder");
        Linear("txt_in", "context_embedder");
        Linear("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
        Linear("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
        Linear("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
        Linear("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
        if (config.GuidanceEmbed)
        {
            Linear("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
            Linear("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
        }

        for (int i = 0; i < config.Depth; i++)
        {
            string ours = $"double_blocks.{i}", theirs = $"transformer_blocks.{i}";
            Linear($"{ours}.img_mod.lin", $"{theirs}.norm1.linear");
            Linear($"{ours}.txt_mod.lin", $"{theirs}.norm1_context.linear");
            Linear($"{ours}.img_attn.qkv", $"{theirs}.attn.to_q", $"{theirs}.attn.to_k", $"{theirs}.attn.to_v");
            Linear($"{ours}.txt_attn.qkv", $"{theirs}.attn.add_q_proj", $"{theirs}.attn.add_k_proj", $"{theirs}.attn.add_v_proj");
            Norm($"{ours}.img_attn.norm.query_norm", $"{theirs}.attn.norm_q");
            Norm($"{ours}.img_attn.norm.key_norm", $"{theirs}.attn.norm_k");
            Norm($"{ours}.txt_attn.norm.query_norm", $"{theirs}.attn.norm_added_q");
            Norm($"{ours}.txt_attn.norm.key_norm", $"{theirs}.attn.norm_added_k");
            Linear($"{ours}.img_attn.proj", $"{theirs}.attn.to_out.0");
            Linear($"{ours}.txt_attn.proj", $"{theirs}.attn.to_add_out");
            Linear($"{ours}.img_mlp.0", $"{theirs}.ff.net.0.proj");
            Linear($"{ours}.img_mlp.2", $"{theirs}.ff.net.2");
            Linear($"{ours}.txt_mlp.0", $"{theirs}.ff_context.net.0.proj");
            Linear($"{ours}.txt_mlp.2", $"{theirs}.ff_context.net.2");
        }

        for (int i = 0; i < config.DepthSingleBlocks; i++)
        {
            string ours = $"single_blocks.{i}", theirs = $"single_transformer_blocks.{i}";
            Linear($"{ours}.linear1", $"{theirs}.attn.to_q", $"{theirs}.attn.to_k", $"{theirs}.attn.to_v", $"{theirs}.proj_mlp");
            Linear($"{ours}.linear2", $"{theirs}.proj_out");
            Linear($"{ours}.modulation.lin", $"{theirs}.norm.linear");
            Norm($"{ours}.norm.query_norm", $"{theirs}.attn.norm_q");
            Norm($"{ours}.norm.key_norm", $"{theirs}.attn.norm_k");
        }

        Linear("final_layer.linear", "proj_out");
        long hidden = config.HiddenSize;
        foreach (var kind in new[] { "weight", "bias" })
            map[$"final_layer.adaLN_modulation.1.{kind}"] = new TensorRecipe(
            [
                new TensorPart($"norm_out.linear.{kind}", hidden, 2 * hidden),
                new TensorPart($"norm_out.linear.{kind}", 0, hidden),
            ]);
        return map;
    }
}
