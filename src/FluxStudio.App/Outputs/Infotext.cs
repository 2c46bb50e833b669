using System.Globalization;
using System.Text;
using System.Text.Json;
using FluxStudio.App.History;
using FluxStudio.Engine.Models;

namespace FluxStudio.App.Outputs;

/// <summary>
/// The A1111 "infotext" stored in a PNG's <c>parameters</c> text chunk: the prompt, then one line of
/// <c>Key: value</c> pairs separated by ", ". A1111, Forge and civitai parse this to show the settings.
/// FLUX has no negative prompt and no classic CFG, so those are written the way Forge writes FLUX images
/// (CFG scale 1, the dev guidance as "Distilled CFG Scale"). Image to image writes A1111's "Denoising strength" as
/// 1 − the image strength: A1111's value is the share of the schedule that is run again from noise, mflux's the share of
/// the picture that is kept (steps − max(1, ⌊steps · strength⌋) of the steps run).
/// </summary>
public static class Infotext
{
    public const string ChunkKeyword = "parameters";

    /// <summary>The infotext of an image as its record describes it (what the engine ran).</summary>
    public static string Format(HistoryEntry record)
    {
        var fields = new List<(string Key, string Value)>
        {
            ("Steps", Text(record.Steps)),
            ("Sampler", "Euler"),
            ("Schedule type", "Simple"),
            ("CFG scale", "1"),
        };
        if (record.Guidance is { } guidance)
            fields.Add(("Distilled CFG Scale", guidance.ToString(CultureInfo.InvariantCulture)));
        fields.Add(("Seed", Text(record.Seed)));
        fields.Add(("Size", $"{Text(record.Width)}x{Text(record.Height)}"));
        fields.Add(("Model", FluxVariants.TryParse(record.ModelAlias, out var variant) ? variant.CheckpointName() : record.ModelAlias));
        if (record.Quantize is { } bits)
            fields.Add(("Quantize", Text(bits)));
        if (record.LoraPaths.Count > 0)
            fields.Add(("LoRA", string.Join(", ", record.LoraPaths.Select((path, i) =>
                $"{Path.GetFileNameWithoutExtension(path)}: {(i < record.LoraScales.Count ? record.LoraScales[i] : 1.0).ToString(CultureInfo.InvariantCulture)}"))));
        if (record.ImageStrength is { } imageStrength)
        {
            fields.Add(("Denoising strength", DenoisingStrength(imageStrength).ToString(CultureInfo.InvariantCulture)));
            fields.Add(("Image strength", imageStrength.ToString(CultureInfo.InvariantCulture)));
            if (record.InitImagePath is { } initImage)
                fields.Add(("Init image", Path.GetFileName(initImage)));
            if (record.InitImageHash is { } initHash)
                fields.Add(("Init image hash", ShortHash(initHash)));
        }
        if (record.ControlNetImagePath is { } controlImage)
        {
            fields.Add(("ControlNet", Path.GetFileName(controlImage)));
            fields.Add(("ControlNet strength", (record.ControlNetStrength ?? 0).ToString(CultureInfo.InvariantCulture)));
            if (record.ControlNetEncoding is { } encoding)
                fields.Add(("ControlNet encoding", encoding));
            if (record.ControlNetImageHash is { } controlHash)
                fields.Add(("ControlNet image hash", ShortHash(controlHash)));
        }
        if (record.Device is { } device)
            fields.Add(("Device", device));
        if (record.Precision is { } precision)
            fields.Add(("Precision", precision));
        if (record.GenerationTimeSeconds is { } seconds)
            fields.Add(("Generation time", seconds.ToString("0.00", CultureInfo.InvariantCulture) + "s"));
        fields.Add(("Version", $"{AppInfo.Name} {AppInfo.Version}"));

        var text = new StringBuilder(record.Prompt.Trim()).Append('\n');
        text.AppendJoin(", ", fields.Select(f => $"{f.Key}: {Quote(f.Value)}"));
        return text.ToString();
    }

    /// <summary>A1111's denoising strength for an image strength: 1 − strength, as the decimal numbers are written.</summary>
    public static double DenoisingStrength(double imageStrength) => (double)(1m - (decimal)imageStrength);

    /// <summary>The first ten hex digits, as A1111 writes model hashes; the sidecar and history keep the whole SHA-256.</summary>
    private static string ShortHash(string hash) => hash.Length > 10 ? hash[..10] : hash;

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A1111's rule: a value holding a comma, colon or newline is written as a JSON string.</summary>
    public static string Quote(string value) =>
        value.IndexOfAny([',', ':', '\n']) >= 0 ? JsonSerializer.Serialize(value, QuoteOptions) : value;
}
