using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Lora;

/// <summary>
/// A LoRA safetensors file read into memory and mapped onto the transformer's layers. Keys that match no layer of
/// the model (text-encoder LoRA, unknown layers, blocks the model does not have) are not applied and are listed in
/// <see cref="UnmatchedKeys"/> so the caller can report them; a file where nothing matches, whose shapes do not
/// fit the model, or whose numbers are not all finite, is refused with a <see cref="LoraFormatException"/>.
/// </summary>
/// <remarks>
/// Factors: PEFT alpha / r from a per-module <c>.alpha</c> (modules without one take the file's most common alpha, as
/// diffusers does; none at all: 1); kohya alpha / rank per module (no alpha: 1; the <c>ss_network_alpha</c> metadata
/// is ignored); XLabs 1. The user's scale multiplies linearly in every format, as diffusers does; XLabs' own tool
/// multiplies both factors by it (scale²), so a caller reproducing that tool squares the scale itself.
/// Only transformer keys are used: text-encoder LoRA keys are listed as unmatched.
/// </remarks>
public sealed class LoraFile : IDisposable
{
    private static readonly string[] PeftSuffixes = [".lora_A.weight", ".lora_B.weight", ".alpha"];
    private static readonly string[] KohyaSuffixes = [".lora_down.weight", ".lora_up.weight", ".alpha"];
    private static readonly string[] XLabsSuffixes = [".down.weight", ".up.weight"];

    private LoraFile(string path, LoraFormat format, IReadOnlyList<LoraModule> modules, IReadOnlyList<string> unmatched)
    {
        Path = path;
        Format = format;
        Modules = modules;
        UnmatchedKeys = unmatched;
    }

    public string Path { get; }

    public LoraFormat Format { get; }

    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Tensor names of the file that were not applied, sorted.</summary>
    public IReadOnlyList<string> UnmatchedKeys { get; }

    public static LoraFile Load(string path, FluxConfig config)
    {
        using var file = OpenFile(path);
        var map = new LoraKeyMap(config);
        var format = LoraKeyMap.Detect(file.Names);
        var suffixes = format switch
        {
            LoraFormat.Kohya => KohyaSuffixes,
            LoraFormat.XLabs => XLabsSuffixes,
            _ => PeftSuffixes,
        };

        var unmatched = new List<string>();
        var groups = new Dictionary<string, string?[]>(StringComparer.Ordinal);
        foreach (var key in file.Names)
        {
            int part = Array.FindIndex(suffixes, suffix => key.EndsWith(suffix, StringComparison.Ordinal));
            if (part < 0)
            {
                unmatched.Add(key);
                continue;
            }
            string module = key[..^suffixes[part].Length];
            if (!groups.TryGetValue(module, out var parts)) groups[module] = parts = new string?[3];
            parts[part] = key;
        }

        var mapped = new List<(string Module, LoraTarget Target, string Down, string Up, string? Alpha)>();
        foreach (var (module, parts) in groups.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            var target = map.Map(format, module);
            if (target is null || parts[0] is null || parts[1] is null)
            {
                unmatched.AddRange(parts.OfType<string>());
                continue;
            }
            mapped.Add((module, target, parts[0]!, parts[1]!, parts[2]));
        }
        unmatched.Sort(StringComparer.Ordinal);
        if (mapped.Count == 0)
            throw new LoraFormatException(path,
                $"no key matches a layer of this FLUX transformer (read as {format} names), so it is not a LoRA for this model. " +
                $"Keys: {Summary(unmatched)}.");

        double? commonAlpha = format == LoraFormat.Peft ? MostCommonAlpha(file, mapped.Select(m => m.Alpha)) : null;
        var modules = new List<LoraModule>();
        try
        {
            using var scope = NewDisposeScope();
            foreach (var (module, target, downKey, upKey, alphaKey) in mapped)
            {
                var shape = map.Linears[target.Target];
                var down = file.Load(downKey, ScalarType.Float32);
                var up = file.Load(upKey, ScalarType.Float32);
                CheckShapes(path, module, target, shape, down, up);
                CheckFinite(path, downKey, down);
                CheckFinite(path, upKey, up);
                if (target.SwapHalves)
                {
                    long half = up.shape[0] / 2;
                    up = cat([up.narrow(0, half, half), up.narrow(0, 0, half)], 0);
                }
                double? alpha = alphaKey != null ? ReadAlpha(file, path, alphaKey) : commonAlpha;
                double factor = format == LoraFormat.XLabs || alpha is null ? 1.0 : alpha.Value / down.shape[0];
                modules.Add(new LoraModule(module, target.Target, target.RowStart, target.RowEnd,
                    down.contiguous().DetachFromDisposeScope(), up.contiguous().DetachFromDisposeScope(), factor));
            }
        }
        catch
        {
            foreach (var module in modules) Dispose(module);
            throw;
        }
        return new LoraFile(path, format, modules, unmatched);
    }

    private static SafetensorsFile OpenFile(string path)
    {
        try
        {
            return SafetensorsFile.Open(path);
        }
        catch (SafetensorsException e)
        {
            throw new LoraFormatException(path, $"not a readable safetensors file ({e.Problem}). LoRAs are loaded from .safetensors files only.");
        }
    }

    private static void CheckShapes(string path, string module, LoraTarget target, LinearShape shape, Tensor down, Tensor up)
    {
        string Text(Tensor t) => $"[{string.Join(", ", t.shape)}]";
        long rows = target.RowEnd - target.RowStart;
        if (down.dim() != 2 || up.dim() != 2 || down.shape[0] != up.shape[1] || down.shape[1] != shape.InFeatures || up.shape[0] != rows)
            throw new LoraFormatException(path,
                $"'{module}' has down {Text(down)} and up {Text(up)}, but '{target.Target}' needs down [rank, {shape.InFeatures}] and " +
                $"up [{rows}, rank]. The LoRA was made for a different model; pick one made for this model's size.");
    }

    /// <summary>
    /// One NaN or infinity would turn every pixel of every image made with the LoRA into NaN (a black image), so such a
    /// file is refused when it is loaded, for the command line, the API and the UI alike.
    /// </summary>
    private static void CheckFinite(string path, string key, Tensor values)
    {
        using var finite = isfinite(values).all();
        if (!finite.item<bool>())
            throw NotFinite(path, key);
    }

    private static LoraFormatException NotFinite(string path, string key) =>
        new(path, $"'{key}' holds NaN or infinite values, so the file is damaged (or was saved from a training run that " +
                  "diverged). Use another copy of the LoRA.");

    private static double ReadAlpha(SafetensorsFile file, string path, string key)
    {
        var info = file.Info(key);
        if (info.ElementCount != 1)
            throw new LoraFormatException(path, $"'{key}' should hold one number but has shape {info.ShapeText}.");
        using var alpha = file.Load(key, ScalarType.Float64);
        var value = alpha.reshape(1)[0].item<double>();
        return double.IsFinite(value) ? value : throw NotFinite(path, key);
    }

    private static double? MostCommonAlpha(SafetensorsFile file, IEnumerable<string?> alphaKeys)
    {
        var values = alphaKeys.OfType<string>().Select(key => ReadAlpha(file, file.Path, key)).ToList();
        return values.Count == 0 ? null
            : values.GroupBy(value => value).OrderByDescending(group => group.Count()).ThenBy(group => group.Key).First().Key;
    }

    private static string Summary(IReadOnlyList<string> keys) =>
        keys.Count <= 8 ? string.Join(", ", keys) : string.Join(", ", keys.Take(8)) + $" and {keys.Count - 8} more";

    private static void Dispose(LoraModule module)
    {
        module.Down.Dispose();
        module.Up.Dispose();
    }

    public void Dispose()
    {
        foreach (var module in Modules) Dispose(module);
    }
}
