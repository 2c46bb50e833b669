using System.Text.RegularExpressions;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Weights;

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
    private readonly Dictionary<string, LoraTarget> _peftTargets;

    public LoraKeyMap(FluxConfig config)
    {
        _config = config;
        _linears = FluxLinearCatalog.For(config);
        // kohya writes the BFL path with every dot as an underscore; matching whole known paths avoids guessing which
        // underscores were dots (img_attn, txt_mod, adaLN_modulation).
        _kohyaNames = _linears.Keys.ToDictionary(path => "lora_unet_" + path.Replace('.', '_'), path => path, StringComparer.Ordinal);
        _peftTargets = PeftTargets(config, _linears);
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

    private LoraTarget? MapPeft(string module) =>
        _peftTargets.GetValueOrDefault(module.StartsWith("transformer.", StringComparison.Ordinal) ? module["transformer.".Length..] : module);

    /// <summary>
    /// Every diffusers linear module of the transformer and the rows of ours it lands in, read off the recipes that load
    /// diffusers checkpoints (<see cref="FluxKeyMap"/>), so that LoRAs and weights follow one name mapping: the parts
    /// of a fused weight (q, k, v, and the MLP input of a single block) fill its rows in order, and a weight made of
    /// its own source's halves in the other order (<c>norm_out.linear</c>) is the swapped target.
    /// </summary>
    private static Dictionary<string, LoraTarget> PeftTargets(FluxConfig config, IReadOnlyDictionary<string, LinearShape> linears)
    {
        const string Weight = ".weight";
        static string Module(TensorPart part) => part.SourceName[..^Weight.Length];
        var targets = new Dictionary<string, LoraTarget>(StringComparer.Ordinal);
        foreach (var (name, recipe) in FluxKeyMap.Recipes(config))
        {
            if (!name.EndsWith(Weight, StringComparison.Ordinal)) continue;
            var layer = name[..^Weight.Length];
            if (!linears.TryGetValue(layer, out var shape)) continue;
            if (recipe.Parts.DistinctBy(part => part.SourceName).Count() < recipe.Parts.Count)
            {
                targets[Module(recipe.Parts[0])] = new LoraTarget(layer, 0, shape.OutFeatures, SwapHalves: true);
                continue;
            }
            long offset = 0;
            foreach (var part in recipe.Parts)
            {
                long rows = recipe.Parts.Count == 1 ? shape.OutFeatures : FluxKeyMap.FusedPartRows(part.SourceName, config);
                targets[Module(part)] = new LoraTarget(layer, offset, offset + rows);
                offset += rows;
            }
        }
        return targets;
    }

    [GeneratedRegex(@"^(?<kind>double|single)_blocks\.(?<index>\d+)\.processor\.(?<name>\w+)$")]
    private static partial Regex XLabsName();
}
