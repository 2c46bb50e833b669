using System.Text.RegularExpressions;

namespace FluxStudio.Engine.Weights;

/// <summary>How a VAE checkpoint names its tensors.</summary>
public enum VaeLayout
{
    /// <summary>BFL names, as in ae.safetensors: <c>encoder.down.0.block.0.conv1.weight</c>. Our canonical names.</summary>
    Bfl,

    /// <summary>diffusers AutoencoderKL names: <c>encoder.down_blocks.0.resnets.0.conv1.weight</c>.</summary>
    Diffusers,
}

/// <summary>
/// Maps the diffusers AutoencoderKL names of the FLUX.1 VAE onto BFL's (and back, for messages). The decoder levels
/// run in opposite orders: BFL <c>decoder.up.i</c> is diffusers <c>decoder.up_blocks.(n − 1 − i)</c>. The mid-block
/// attention projections are 1 × 1 convolutions [C, C, 1, 1] in BFL and linear layers [C, C] in diffusers.
/// </summary>
public static partial class VaeKeyMap
{
    private const string ResnetParameter = @"(norm1|conv1|norm2|conv2|{0})\.(weight|bias)";
    private const string Parameter = @"(weight|bias)";

    private static readonly (string Diffusers, string Bfl)[] AttentionNames =
        [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")];

    /// <summary>The attention names of older diffusers checkpoints: read, never written.</summary>
    private static readonly (string Diffusers, string Bfl)[] LegacyAttentionNames =
        [("query", "q"), ("key", "k"), ("value", "v"), ("proj_attn", "proj_out")];

    /// <summary>Which naming a VAE checkpoint uses, from its tensor names; throws if it is neither.</summary>
    public static VaeLayout DetectLayout(IReadOnlyCollection<string> names, string description)
    {
        bool Any(string prefix) => names.Any(name => name.StartsWith(prefix, StringComparison.Ordinal));
        if (Any("encoder.down_blocks.") || Any("decoder.up_blocks.") || Any("encoder.mid_block.") || Any("decoder.mid_block."))
            return VaeLayout.Diffusers;
        if (Any("encoder.down.") || Any("decoder.up.") || Any("encoder.mid.") || Any("decoder.mid."))
            return VaeLayout.Bfl;
        var sample = string.Join(", ", names.Order(StringComparer.Ordinal).Take(3));
        throw new InvalidDataException(
            $"{description} is not a FLUX.1 VAE: expected tensors named encoder.down.* (BFL ae.safetensors) or " +
            $"encoder.down_blocks.* (diffusers AutoencoderKL), found {(names.Count == 0 ? "no tensors" : sample + ", ...")}. " +
            "Point to ae.safetensors or to the model's vae/ folder.");
    }

    /// <summary>Number of resolution levels in a diffusers checkpoint (needed to reverse the decoder's order).</summary>
    public static int DiffusersLevelCount(IEnumerable<string> names) =>
        names.Select(name => LevelIndex().Match(name)).Where(match => match.Success)
            .Select(match => int.Parse(match.Groups[1].Value) + 1).DefaultIfEmpty(0).Max();

    /// <summary>The BFL name of a diffusers VAE tensor, or null when it has no counterpart in the FLUX.1 VAE.</summary>
    public static string? DiffusersToBfl(string name, int levelCount)
    {
        var split = SplitPart(name);
        if (split is not var (part, rest)) return null;
        if (Same(rest) is { } same) return $"{part}.{same}";
        if (rest.StartsWith("conv_norm_out.", StringComparison.Ordinal) && ParameterOf(rest, "conv_norm_out.") is { } p)
            return $"{part}.norm_out.{p}";

        Match match;
        if (part == "encoder" && (match = Matches(rest, @"down_blocks\.(\d+)\.resnets\.(\d+)\." + Resnet("conv_shortcut"))).Success)
            return $"{part}.down.{match.Groups[1]}.block.{match.Groups[2]}.{BflResnet(match, 3)}";
        if (part == "encoder" && (match = Matches(rest, @"down_blocks\.(\d+)\.downsamplers\.0\.conv\." + Parameter)).Success)
            return $"{part}.down.{match.Groups[1]}.downsample.conv.{match.Groups[2]}";
        if (part == "decoder" && (match = Matches(rest, @"up_blocks\.(\d+)\.resnets\.(\d+)\." + Resnet("conv_shortcut"))).Success)
            return Reversed(match, levelCount) is { } level ? $"{part}.up.{level}.block.{match.Groups[2]}.{BflResnet(match, 3)}" : null;
        if (part == "decoder" && (match = Matches(rest, @"up_blocks\.(\d+)\.upsamplers\.0\.conv\." + Parameter)).Success)
            return Reversed(match, levelCount) is { } level ? $"{part}.up.{level}.upsample.conv.{match.Groups[2]}" : null;
        if ((match = Matches(rest, @"mid_block\.resnets\.([01])\." + Resnet("conv_shortcut"))).Success)
            return $"{part}.mid.block_{int.Parse(match.Groups[1].Value) + 1}.{BflResnet(match, 2)}";
        foreach (var (diffusers, bfl) in AttentionNames.Concat(LegacyAttentionNames))
        {
            if (ParameterOf(rest, $"mid_block.attentions.0.{diffusers}.") is { } parameter)
                return $"{part}.mid.attn_1.{bfl}.{parameter}";
        }
        return null;
    }

    /// <summary>The current diffusers name of a BFL VAE tensor, or null when it has none.</summary>
    public static string? BflToDiffusers(string name, int levelCount)
    {
        var split = SplitPart(name);
        if (split is not var (part, rest)) return null;
        if (Same(rest) is { } same) return $"{part}.{same}";
        if (ParameterOf(rest, "norm_out.") is { } p) return $"{part}.conv_norm_out.{p}";

        Match match;
        if (part == "encoder" && (match = Matches(rest, @"down\.(\d+)\.block\.(\d+)\." + Resnet("nin_shortcut"))).Success)
            return $"{part}.down_blocks.{match.Groups[1]}.resnets.{match.Groups[2]}.{DiffusersResnet(match, 3)}";
        if (part == "encoder" && (match = Matches(rest, @"down\.(\d+)\.downsample\.conv\." + Parameter)).Success)
            return $"{part}.down_blocks.{match.Groups[1]}.downsamplers.0.conv.{match.Groups[2]}";
        if (part == "decoder" && (match = Matches(rest, @"up\.(\d+)\.block\.(\d+)\." + Resnet("nin_shortcut"))).Success)
            return Reversed(match, levelCount) is { } level ? $"{part}.up_blocks.{level}.resnets.{match.Groups[2]}.{DiffusersResnet(match, 3)}" : null;
        if (part == "decoder" && (match = Matches(rest, @"up\.(\d+)\.upsample\.conv\." + Parameter)).Success)
            return Reversed(match, levelCount) is { } level ? $"{part}.up_blocks.{level}.upsamplers.0.conv.{match.Groups[2]}" : null;
        if ((match = Matches(rest, @"mid\.block_([12])\." + Resnet("nin_shortcut"))).Success)
            return $"{part}.mid_block.resnets.{int.Parse(match.Groups[1].Value) - 1}.{DiffusersResnet(match, 2)}";
        foreach (var (diffusers, bfl) in AttentionNames)
        {
            if (ParameterOf(rest, $"mid.attn_1.{bfl}.") is { } parameter)
                return $"{part}.mid_block.attentions.0.{diffusers}.{parameter}";
        }
        return null;
    }

    /// <summary>
    /// A view of a diffusers VAE checkpoint under BFL names. Tensors with no BFL counterpart keep their names, so a
    /// loader reports them as unexpected.
    /// </summary>
    public static ITensorSource FromDiffusers(ITensorSource diffusers)
    {
        var levels = DiffusersLevelCount(diffusers.Names);
        var recipes = new Dictionary<string, TensorRecipe>(StringComparer.Ordinal);
        foreach (var name in diffusers.Names)
        {
            if (DiffusersToBfl(name, levels) is not { } bfl) continue;
            var shape = diffusers.Info(name).Shape;
            // diffusers stores the 1 × 1 attention convolutions as linear weights.
            recipes[bfl] = shape.Length == 2 && bfl.Contains(".attn_1.", StringComparison.Ordinal)
                ? new TensorRecipe([new TensorPart(name)], [shape[0], shape[1], 1, 1])
                : TensorRecipe.Rename(name);
        }
        return new MappedTensorSource(diffusers, recipes, "diffusers");
    }

    private static (string Part, string Remainder)? SplitPart(string name)
    {
        foreach (var part in (string[])["encoder", "decoder"])
        {
            if (name.StartsWith(part + ".", StringComparison.Ordinal)) return (part, name[(part.Length + 1)..]);
        }
        return null;
    }

    private static string? Same(string rest) =>
        ParameterOf(rest, "conv_in.") is { } p ? $"conv_in.{p}" : ParameterOf(rest, "conv_out.") is { } q ? $"conv_out.{q}" : null;

    private static string? ParameterOf(string rest, string prefix) =>
        rest.StartsWith(prefix, StringComparison.Ordinal) && rest[prefix.Length..] is "weight" or "bias" ? rest[prefix.Length..] : null;

    private static string Resnet(string shortcutName) => string.Format(ResnetParameter, shortcutName);

    private static Match Matches(string rest, string pattern) => Regex.Match(rest, $"^{pattern}$", RegexOptions.CultureInvariant);

    private static string BflResnet(Match match, int group) =>
        $"{(match.Groups[group].Value == "conv_shortcut" ? "nin_shortcut" : match.Groups[group].Value)}.{match.Groups[group + 1]}";

    private static string DiffusersResnet(Match match, int group) =>
        $"{(match.Groups[group].Value == "nin_shortcut" ? "conv_shortcut" : match.Groups[group].Value)}.{match.Groups[group + 1]}";

    private static int? Reversed(Match match, int levelCount)
    {
        var level = int.Parse(match.Groups[1].Value);
        return level < levelCount ? levelCount - 1 - level : null;
    }

    [GeneratedRegex(@"^(?:decoder\.up_blocks|encoder\.down_blocks)\.(\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex LevelIndex();
}
