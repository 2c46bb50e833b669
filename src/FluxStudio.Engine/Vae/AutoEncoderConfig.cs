using System.Text.Json;
using System.Text.Json.Nodes;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// The shape of a FLUX.1 autoencoder (BFL's AutoEncoderParams). The defaults are the released FLUX.1 VAE.
/// </summary>
/// <remarks>
/// BFL names: resolution, in_channels, ch, out_ch, ch_mult, num_res_blocks, z_channels, scale_factor,
/// shift_factor. diffusers (AutoencoderKL config.json): sample_size, in_channels, block_out_channels (= ch × ch_mult),
/// out_channels, layers_per_block, latent_channels, scaling_factor, shift_factor, norm_num_groups.
/// </remarks>
public sealed record AutoEncoderConfig
{
    /// <summary>The released FLUX.1 VAE (dev, schnell, Kontext, Krea all share it).</summary>
    public static AutoEncoderConfig Flux1 { get; } = new();

    /// <summary>Training resolution; recorded for completeness, the model runs at any size that the factor divides.</summary>
    public int Resolution { get; init; } = 256;

    public int InChannels { get; init; } = 3;

    /// <summary>Channels of the first level (BFL <c>ch</c>); level i has <c>Channels × ChannelMultipliers[i]</c>.</summary>
    public int Channels { get; init; } = 128;

    public int OutChannels { get; init; } = 3;

    /// <summary>One entry per resolution level, full resolution first.</summary>
    public IReadOnlyList<int> ChannelMultipliers { get; init; } = [1, 2, 4, 4];

    /// <summary>Resnet blocks per encoder level; each decoder level has one more.</summary>
    public int ResBlocks { get; init; } = 2;

    /// <summary>Latent channels (BFL <c>z_channels</c>); the encoder outputs twice as many (mean and log-variance).</summary>
    public int LatentChannels { get; init; } = 16;

    public double ScaleFactor { get; init; } = 0.3611;

    public double ShiftFactor { get; init; } = 0.1159;

    /// <summary>GroupNorm groups; BFL hard-codes 32.</summary>
    public int NormGroups { get; init; } = 32;

    /// <summary>Pixels per latent along each side: one halving per level after the first.</summary>
    public int DownsampleFactor => 1 << (ChannelMultipliers.Count - 1);

    public int LevelCount => ChannelMultipliers.Count;

    public int LevelChannels(int level) => Channels * ChannelMultipliers[level];

    /// <summary>Channels at the lowest resolution, where the mid block and the latent convolutions work.</summary>
    public int InnerChannels => LevelChannels(LevelCount - 1);

    /// <summary>Throws with a message naming the offending field when the numbers cannot describe a working model.</summary>
    public AutoEncoderConfig Validate()
    {
        Require(InChannels > 0 && OutChannels > 0 && LatentChannels > 0 && Channels > 0 && ResBlocks > 0,
            "in/out channels, ch, z_channels and num_res_blocks must all be positive");
        Require(ChannelMultipliers.Count > 0 && ChannelMultipliers.All(m => m > 0), "ch_mult needs at least one positive entry");
        Require(NormGroups > 0, "norm_num_groups must be positive");
        for (var level = 0; level < LevelCount; level++)
            Require(LevelChannels(level) % NormGroups == 0,
                $"level {level} has {LevelChannels(level)} channels, which {NormGroups} GroupNorm groups do not divide");
        Require(Channels % NormGroups == 0, $"ch {Channels} is not divisible by {NormGroups} GroupNorm groups");
        Require(ScaleFactor != 0 && double.IsFinite(ScaleFactor) && double.IsFinite(ShiftFactor),
            "scale_factor must be finite and non-zero, shift_factor finite");
        return this;
    }

    /// <summary>
    /// Reads a VAE <c>config.json</c>: a diffusers AutoencoderKL config (block_out_channels, ...) or BFL
    /// AutoEncoderParams written as JSON (ch, ch_mult, ...). Missing fields keep the FLUX.1 defaults.
    /// </summary>
    public static AutoEncoderConfig FromJsonFile(string path)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: the VAE config is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the VAE config is not valid JSON ({e.Message}).", e);
        }
        try
        {
            return (json.ContainsKey("block_out_channels") ? FromDiffusers(json) : FromBfl(json)).Validate();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: {e.Message}.", e);
        }
    }

    private static AutoEncoderConfig FromDiffusers(JsonObject json)
    {
        var blockOut = Ints(json, "block_out_channels")!;
        Require(blockOut.Count > 0, "block_out_channels is empty");
        var ch = blockOut[0];
        Require(blockOut.All(c => c % ch == 0), "every block_out_channels entry must be a multiple of the first");
        Require(Bool(json, "use_quant_conv") != true && Bool(json, "use_post_quant_conv") != true,
            "the config asks for quant_conv layers, which the FLUX.1 VAE does not have (is this a Stable Diffusion VAE?)");
        Require(Bool(json, "mid_block_add_attention") != false, "a VAE without mid-block attention is not a FLUX.1 VAE");
        var defaults = Flux1;
        return new AutoEncoderConfig
        {
            Resolution = Int(json, "sample_size") ?? defaults.Resolution,
            InChannels = Int(json, "in_channels") ?? defaults.InChannels,
            OutChannels = Int(json, "out_channels") ?? defaults.OutChannels,
            Channels = ch,
            ChannelMultipliers = [.. blockOut.Select(c => c / ch)],
            ResBlocks = Int(json, "layers_per_block") ?? defaults.ResBlocks,
            LatentChannels = Int(json, "latent_channels") ?? defaults.LatentChannels,
            ScaleFactor = Double(json, "scaling_factor") ?? defaults.ScaleFactor,
            // diffusers leaves shift_factor null for VAEs without a shift.
            ShiftFactor = json.ContainsKey("shift_factor") ? Double(json, "shift_factor") ?? 0 : defaults.ShiftFactor,
            NormGroups = Int(json, "norm_num_groups") ?? defaults.NormGroups,
        };
    }

    private static AutoEncoderConfig FromBfl(JsonObject json)
    {
        Require(json.ContainsKey("ch_mult") || json.ContainsKey("z_channels"),
            "neither a diffusers AutoencoderKL config (block_out_channels) nor BFL AutoEncoderParams (ch_mult)");
        var defaults = Flux1;
        return new AutoEncoderConfig
        {
            Resolution = Int(json, "resolution") ?? defaults.Resolution,
            InChannels = Int(json, "in_channels") ?? defaults.InChannels,
            Channels = Int(json, "ch") ?? defaults.Channels,
            OutChannels = Int(json, "out_ch") ?? defaults.OutChannels,
            ChannelMultipliers = Ints(json, "ch_mult") ?? defaults.ChannelMultipliers,
            ResBlocks = Int(json, "num_res_blocks") ?? defaults.ResBlocks,
            LatentChannels = Int(json, "z_channels") ?? defaults.LatentChannels,
            ScaleFactor = Double(json, "scale_factor") ?? defaults.ScaleFactor,
            ShiftFactor = Double(json, "shift_factor") ?? defaults.ShiftFactor,
        };
    }

    /// <summary>
    /// Reads the architecture off the tensor shapes of a checkpoint in BFL names (as in ae.safetensors). A single
    /// file does not store the scale and shift factors, so those keep the FLUX.1 values.
    /// </summary>
    /// <param name="shapeOf">The shape of a tensor by its BFL name, or null when the checkpoint lacks it.</param>
    public static AutoEncoderConfig FromTensorShapes(IEnumerable<string> names, Func<string, long[]?> shapeOf)
    {
        long[] Shape(string name) => shapeOf(name)
            ?? throw new InvalidDataException($"the checkpoint has no {name}, so it is not a FLUX.1 VAE (or it is incomplete)");

        var nameList = names.ToList();
        var levels = CountIndices(nameList, "encoder.down.");
        var resBlocks = CountIndices(nameList, "encoder.down.0.block.");
        if (levels == 0 || resBlocks == 0)
            throw new InvalidDataException("the checkpoint has no encoder.down.* tensors, so it is not a FLUX.1 VAE in BFL names");
        var convIn = Shape("encoder.conv_in.weight");
        var ch = (int)convIn[0];
        var multipliers = Enumerable.Range(0, levels)
            .Select(level => (int)Shape($"encoder.down.{level}.block.0.conv1.weight")[0] / ch).ToArray();
        return new AutoEncoderConfig
        {
            InChannels = (int)convIn[1],
            Channels = ch,
            OutChannels = (int)Shape("decoder.conv_out.weight")[0],
            ChannelMultipliers = multipliers,
            ResBlocks = resBlocks,
            LatentChannels = (int)Shape("decoder.conv_in.weight")[1],
        }.Validate();
    }

    private static int CountIndices(IEnumerable<string> names, string prefix) =>
        names.Where(name => name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(name => name[prefix.Length..])
            .Select(rest => int.TryParse(rest.AsSpan(0, Math.Max(0, rest.IndexOf('.'))), out var index) ? index + 1 : 0)
            .DefaultIfEmpty(0).Max();

    public bool Equals(AutoEncoderConfig? other) =>
        other is not null && Resolution == other.Resolution && InChannels == other.InChannels && Channels == other.Channels
        && OutChannels == other.OutChannels && ChannelMultipliers.SequenceEqual(other.ChannelMultipliers)
        && ResBlocks == other.ResBlocks && LatentChannels == other.LatentChannels && ScaleFactor == other.ScaleFactor
        && ShiftFactor == other.ShiftFactor && NormGroups == other.NormGroups;

    public override int GetHashCode() =>
        HashCode.Combine(Channels, ChannelMultipliers.Count, ResBlocks, LatentChannels, ScaleFactor, ShiftFactor);

    public override string ToString() =>
        $"AutoEncoderConfig {{ ch {Channels}, ch_mult [{string.Join(", ", ChannelMultipliers)}], num_res_blocks {ResBlocks}, " +
        $"z_channels {LatentChannels}, in {InChannels}, out {OutChannels}, scale {ScaleFactor}, shift {ShiftFactor}, " +
        $"groups {NormGroups}, resolution {Resolution} }}";

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }

    private static int? Int(JsonObject json, string key) => Field<int>(json, key, "an integer");

    private static double? Double(JsonObject json, string key) => Field<double>(json, key, "a number");

    private static bool? Bool(JsonObject json, string key) => Field<bool>(json, key, "true or false");

    private static T? Field<T>(JsonObject json, string key, string expected) where T : struct =>
        json[key] is { } node ? Read(node, key, item => item.GetValue<T>(), expected) : null;

    private static List<int>? Ints(JsonObject json, string key) =>
        json[key] is { } node
            ? Read(node, key, item => item.AsArray().Select(entry => entry!.GetValue<int>()).ToList(), "a list of integers")
            : null;

    private static T Read<T>(JsonNode node, string key, Func<JsonNode, T> read, string expected)
    {
        try
        {
            return read(node);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new FormatException($"\"{key}\" must be {expected}, not {node.ToJsonString()}", e);
        }
    }
}
