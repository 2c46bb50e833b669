using FluxStudio.Engine.Flux;

namespace FluxStudio.Engine.Lora;

/// <summary>Shape of one <see cref="Layers.Linear"/> of the transformer.</summary>
public readonly record struct LinearShape(long InFeatures, long OutFeatures);

/// <summary>Every linear layer of a FLUX transformer by its BFL path, computed from the configuration alone.</summary>
public static class FluxLinearCatalog
{
    public static IReadOnlyDictionary<string, LinearShape> For(FluxConfig config)
    {
        long h = config.HiddenSize, m = config.MlpHiddenDim;
        var linears = new Dictionary<string, LinearShape>(StringComparer.Ordinal)
        {
            ["img_in"] = new(config.InChannels, h),
            ["txt_in"] = new(config.ContextInDim, h),
            ["time_in.in_layer"] = new(256, h),
            ["time_in.out_layer"] = new(h, h),
            ["vector_in.in_layer"] = new(config.VecInDim, h),
            ["vector_in.out_layer"] = new(h, h),
            ["final_layer.linear"] = new(h, config.OutChannels),
            ["final_layer.adaLN_modulation.1"] = new(h, 2 * h),
        };
        if (config.GuidanceEmbed)
        {
            linears["guidance_in.in_layer"] = new(256, h);
            linears["guidance_in.out_layer"] = new(h, h);
        }
        for (int i = 0; i < config.Depth; i++)
        {
            foreach (var stream in new[] { "img", "txt" })
            {
                string prefix = $"double_blocks.{i}.{stream}";
                linears[$"{prefix}_mod.lin"] = new(h, 6 * h);
                linears[$"{prefix}_attn.qkv"] = new(h, 3 * h);
                linears[$"{prefix}_attn.proj"] = new(h, h);
                linears[$"{prefix}_mlp.0"] = new(h, m);
                linears[$"{prefix}_mlp.2"] = new(m, h);
            }
        }
        for (int i = 0; i < config.DepthSingleBlocks; i++)
        {
            linears[$"single_blocks.{i}.linear1"] = new(h, 3 * h + m);
            linears[$"single_blocks.{i}.linear2"] = new(h + m, h);
            linears[$"single_blocks.{i}.modulation.lin"] = new(h, 3 * h);
        }
        return linears;
    }
}
