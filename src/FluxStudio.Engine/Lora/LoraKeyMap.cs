using System.Text.RegularExpressions;
using FluxStudio.Engine.Flux;

namespace FluxStudio.Engine.Lora;

/// <summary>
/// Maps the module names of the three LoRA naming schemes onto our BFL-named linear layers and their rows.
/// Fused layers keep q, k, v as consecutive blocks of H rows; <c>linear1</c> adds the MLP rows [3H, 3H + M).
/// </summary>
public sealed partial class LoraKeyMap
{
    private readonly FluxConfig _config;
    private readonly IReadOnlyDictionary<string, LinearShape> _linears;
    private readonly Dictionary<string, string> _kohyaNames;

    public LoraKeyMap(FluxConfig config)
    {
        _config = config;
        _linears = FluxLinearCatalog.For(config);
        // kohya writes the BFL path with every dot as an underscore; matching whole known paths avoids guessing which
        // underscores were dots (img_attn, txt_mod, adaLN_modulation).
        _kohyaNames = _linears.Keys.ToDictionary(path => "lora_unet_" + path.Replace('.', '_'), path => path, StringComparer.Ordinal);
    }

    public IReadOnlyDictionary<string, LinearShape> Linears => _linears;

    /// <summary>Diffusers' rule: kohya if any key has <c>.lora_down.weight</c>, else XLabs if any has <c>processor</c>, else PEFT.</summary>
    public static LoraFormat Detect(IEnumerable<string> keys)
    {
        var list = keys as IReadOnlyCollection<string> ?? keys.ToList();
        if (list.Any(key => key.Contains(".lora_down.weight", StringComparison.Ordinal))) return LoraFormat.Kohya;
        if (list.Any(key => key.Contains("processor", StringComparison.Ordinal))) return LoraFormat.XLabs;
        return LoraFormat.Peft;
    }

    /// <summary>The target of a module name (without its <c>.lora_A.weight</c> / <c>.down.weight</c> suffix), or null if it matches nothing.</summary>
    public LoraTarget? Map(LoraFormat format, string module) => format switch
    {
        LoraFormat.Kohya => _kohyaNames.TryGetValue(module, out var path) ? Whole(path) : null,
        LoraFormat.XLabs => MapXLabs(module),
        _ => MapPeft(module),
    };

    private LoraTarget? Whole(string path) => _linears.TryGetValue(path, out var shape) ? new LoraTarget(path, 0, shape.OutFeatures) : null;

    private LoraTarget? Rows(string path, long start, long length) =>
        _linears.ContainsKey(path) ? new LoraTarget(path, start, start + length) : null;

    private LoraTarget? MapXLabs(string module)
    {
        long h = _config.HiddenSize;
        var match = XLabsName().Match(module);
        if (!match.Success) return null;
        string block = $"{match.Groups["kind"].Value}_blocks.{match.Groups["index"].Value}";
        return match.Groups["name"].Value switch
        {
            "qkv_lora1" when match.Groups["kind"].Value == "double" => Whole($"{block}.img_attn.qkv"),
            "qkv_lora2" when match.Groups["kind"].Value == "double" => Whole($"{block}.txt_attn.qkv"),
            "proj_lora1" when match.Groups["kind"].Value == "double" => Whole($"{block}.img_attn.proj"),
            "proj_lora2" when match.Groups["kind"].Value == "double" => Whole($"{block}.txt_attn.proj"),
            // XLabs' single-block LoRA covers q, k, v only, not the MLP rows of linear1.
            "qkv_lora" when match.Groups["kind"].Value == "single" => Rows($"{block}.linear1", 0, 3 * h),
            "proj_lora" when match.Groups["kind"].Value == "single" => Whole($"{block}.linear2"),
            _ => null,
        };
    }

    private LoraTarget? MapPeft(string module)
    {
        long h = _config.HiddenSize, m = _config.MlpHiddenDim;
        string name = module.StartsWith("transformer.", StringComparison.Ordinal) ? module["transformer.".Length..] : module;
        var match = PeftBlockName().Match(name);
        if (match.Success)
        {
            string index = match.Groups["index"].Value, rest = match.Groups["rest"].Value;
            if (match.Groups["kind"].Value == "transformer_blocks")
            {
                string ours = $"double_blocks.{index}";
                return rest switch
                {
                    "attn.to_q" => Rows($"{ours}.img_attn.qkv", 0, h),
                    "attn.to_k" => Rows($"{ours}.img_attn.qkv", h, h),
                    "attn.to_v" => Rows($"{ours}.img_attn.qkv", 2 * h, h),
                    "attn.add_q_proj" => Rows($"{ours}.txt_attn.qkv", 0, h),
                    "attn.add_k_proj" => Rows($"{ours}.txt_attn.qkv", h, h),
                    "attn.add_v_proj" => Rows($"{ours}.txt_attn.qkv", 2 * h, h),
                    "attn.to_out.0" => Whole($"{ours}.img_attn.proj"),
                    "attn.to_add_out" => Whole($"{ours}.txt_attn.proj"),
                    "ff.net.0.proj" => Whole($"{ours}.img_mlp.0"),
                    "ff.net.2" => Whole($"{ours}.img_mlp.2"),
                    "ff_context.net.0.proj" => Whole($"{ours}.txt_mlp.0"),
                    "ff_context.net.2" => Whole($"{ours}.txt_mlp.2"),
                    "norm1.linear" => Whole($"{ours}.img_mod.lin"),
                    "norm1_context.linear" => Whole($"{ours}.txt_mod.lin"),
                    _ => null,
                };
            }
            string single = $"single_blocks.{index}";
            return rest switch
            {
                "attn.to_q" => Rows($"{single}.linear1", 0, h),
                "attn.to_k" => Rows($"{single}.linear1", h, h),
                "attn.to_v" => Rows($"{single}.linear1", 2 * h, h),
                "proj_mlp" => Rows($"{single}.linear1", 3 * h, m),
                "proj_out" => Whole($"{single}.linear2"),
                "norm.linear" => Whole($"{single}.modulation.lin"),
                _ => null,
            };
        }
        return name switch
        {
            "x_embedder" => Whole("img_in"),
            "context_embedder" => Whole("txt_in"),
            "time_text_embed.timestep_embedder.linear_1" => Whole("time_in.in_layer"),
            "time_text_embed.timestep_embedder.linear_2" => Whole("time_in.out_layer"),
            "time_text_embed.text_embedder.linear_1" => Whole("vector_in.in_layer"),
            "time_text_embed.text_embedder.linear_2" => Whole("vector_in.out_layer"),
            "time_text_embed.guidance_embedder.linear_1" => Whole("guidance_in.in_layer"),
            "time_text_embed.guidance_embedder.linear_2" => Whole("guidance_in.out_layer"),
            "proj_out" => Whole("final_layer.linear"),
            "norm_out.linear" => Whole("final_layer.adaLN_modulation.1") is { } target ? target with { SwapHalves = true } : null,
            _ => null,
        };
    }

    [GeneratedRegex(@"^(?<kind>double|single)_blocks\.(?<index>\d+)\.processor\.(?<name>\w+)$")]
    private static partial Regex XLabsName();

    [GeneratedRegex(@"^(?<kind>transformer_blocks|single_transformer_blocks)\.(?<index>\d+)\.(?<rest>.+)$")]
    private static partial Regex PeftBlockName();
}
