using System.Text.Json;

namespace FluxStudio.Engine.Models;

/// <summary>
/// Checks a folder in the Hugging Face diffusers layout of a FLUX.1 pipeline: <c>transformer/</c>, <c>text_encoder/</c>
/// (CLIP), <c>text_encoder_2/</c> (T5), <c>tokenizer/</c>, <c>tokenizer_2/</c> and <c>vae/</c>, next to
/// <c>model_index.json</c>. Symbolic links are followed (Hub cache snapshots consist of them), so a link whose blob is
/// gone counts as missing.
/// </summary>
public static class DiffusersFolder
{
    public const string Transformer = "transformer";
    public const string TextEncoder = "text_encoder";
    public const string TextEncoder2 = "text_encoder_2";
    public const string Tokenizer = "tokenizer";
    public const string Tokenizer2 = "tokenizer_2";
    public const string Vae = "vae";
    public const string Scheduler = "scheduler";
    public const string ModelIndex = "model_index.json";

    /// <summary>The parts every FLUX.1 pipeline needs, in the order they are reported.</summary>
    public static IReadOnlyList<string> RequiredParts { get; } = [Transformer, TextEncoder, TextEncoder2, Tokenizer, Tokenizer2, Vae];

    private static readonly string[] PickleExtensions = [".bin", ".pt", ".pth", ".ckpt", ".pkl"];

    /// <summary>True when the folder looks like a diffusers pipeline at all (even an incomplete one).</summary>
    public static bool LooksLikeModelFolder(string folder) =>
        FileExists(Path.Combine(folder, ModelIndex)) || RequiredParts.Any(part => Directory.Exists(Path.Combine(folder, part)));

    /// <summary>Lists what is missing or unusable; empty when the folder is complete.</summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="without">Parts that come from elsewhere (e.g. a single-file transformer) and are not checked.</param>
    public static IReadOnlyList<MissingModelPart> FindMissingParts(string folder, IReadOnlyCollection<string>? without = null)
    {
        var missing = new List<MissingModelPart>();
        foreach (var part in RequiredParts)
        {
            if (without?.Contains(part) == true) continue;
            if (CheckPart(Path.Combine(folder, part), part) is { } reason) missing.Add(new MissingModelPart(part, reason));
        }
        return missing;
    }

    /// <summary>Throws <see cref="IncompleteModelException"/> naming every missing part.</summary>
    public static void Validate(string folder, IReadOnlyCollection<string>? without = null)
    {
        var missing = FindMissingParts(folder, without);
        if (missing.Count == 0) return;
        if (missing.All(part => part.Reason == "the folder is missing") && !FileExists(Path.Combine(folder, ModelIndex)))
            throw new IncompleteModelException(
                $"{folder} is not a FLUX.1 model folder: it has none of {DescribeLayout()} "
                + "(the Hugging Face diffusers layout of black-forest-labs/FLUX.1-schnell or -dev). Pass the folder that holds model_index.json.",
                folder, missing);
        throw new IncompleteModelException(
            $"{folder} is not a complete FLUX.1 model folder: " + string.Join("; ", missing) + ". "
            + "A model folder needs " + DescribeLayout() + " (the Hugging Face diffusers layout of black-forest-labs/FLUX.1-schnell or -dev).",
            folder, missing);
    }

    /// <summary>The layout in words, for messages.</summary>
    public static string DescribeLayout() =>
        $"{ModelIndex}, " + string.Join(", ", RequiredParts.Select(p => p + "/"));

    /// <summary>True when the path is a file, or a symbolic link whose target file exists.</summary>
    public static bool FileExists(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null) return info.Exists;
        try
        {
            return info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
        }
        catch (IOException)
        {
            return false; // a link loop
        }
    }

    private static string? CheckPart(string dir, string part)
    {
        if (!Directory.Exists(dir)) return "the folder is missing";
        return part switch
        {
            Tokenizer => RequireFiles(dir, "vocab.json", "merges.txt"),
            Tokenizer2 => RequireFiles(dir, "spiece.model"),
            _ => RequireFiles(dir, "config.json") ?? CheckWeights(dir),
        };
    }

    private static string? RequireFiles(string dir, params string[] names)
    {
        var absent = names.Where(name => !FileExists(Path.Combine(dir, name))).ToList();
        return absent.Count == 0 ? null : "no " + string.Join(", no ", absent);
    }

    private static string? CheckWeights(string dir)
    {
        var index = Directory.EnumerateFiles(dir, "*.safetensors.index.json").Order(StringComparer.Ordinal).FirstOrDefault();
        if (index is not null) return CheckShards(dir, index);
        if (Directory.EnumerateFiles(dir, "*.safetensors").Any(FileExists)) return null;
        var pickles = Directory.EnumerateFiles(dir)
            .Where(f => PickleExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase)).ToList();
        return pickles.Count > 0
            ? $"only pickled weights ({Path.GetFileName(pickles[0])}), which are never loaded because they can run code; use the .safetensors files of the model"
            : "no .safetensors weights";
    }

    private static string? CheckShards(string dir, string indexPath)
    {
        HashSet<string> shards;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            shards = json.RootElement.GetProperty("weight_map").EnumerateObject()
                .Select(entry => entry.Value.GetString() ?? "").ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            return $"{Path.GetFileName(indexPath)} is not a valid shard index ({e.Message})";
        }
        var absent = shards.Where(shard => shard.Length == 0 || !FileExists(Path.Combine(dir, shard))).Order(StringComparer.Ordinal).ToList();
        return absent.Count == 0 ? null
            : $"shard {absent[0]} listed in {Path.GetFileName(indexPath)} is missing"
              + (absent.Count > 1 ? $" (and {absent.Count - 1} more)" : "") + " (an interrupted download?)";
    }
}
