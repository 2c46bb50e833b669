using System.Globalization;
using System.Text;
using System.Text.Json;
using FluxStudio.App.Generation;

namespace FluxStudio.App.Outputs;

/// <summary>
/// The A1111 "infotext" stored in a PNG's <c>parameters</c> text chunk: the prompt, then one line of
/// <c>Key: value</c> pairs separated by ", ". A1111, Forge and civitai parse this to show the settings.
/// FLUX has no negative prompt and no classic CFG, so those are written the way Forge writes FLUX images
/// (CFG scale 1, the dev guidance as "Distilled CFG Scale").
/// </summary>
public static class Infotext
{
    public const string ChunkKeyword = "parameters";

    public static string Format(GenerationRequest request, GeneratedImage image, int width, int height, IReadOnlyList<string> loraNames)
    {
        var fields = new List<(string Key, string Value)>
        {
            ("Steps", request.EffectiveSteps.ToString(CultureInfo.InvariantCulture)),
            ("Sampler", "Euler"),
            ("Schedule type", "Simple"),
            ("CFG scale", "1"),
        };
        if (request.EffectiveGuidance is { } guidance)
            fields.Add(("Distilled CFG Scale", guidance.ToString(CultureInfo.InvariantCulture)));
        fields.Add(("Seed", image.Seed.ToString(CultureInfo.InvariantCulture)));
        fields.Add(("Size", $"{width}x{height}"));
        fields.Add(("Model", request.Model == FluxModel.Dev ? "flux1-dev" : "flux1-schnell"));
        if (request.Quantize is { } bits)
            fields.Add(("Quantize", bits.ToString(CultureInfo.InvariantCulture)));
        if (loraNames.Count > 0)
            fields.Add(("LoRA", string.Join(", ", loraNames.Select((name, i) =>
                $"{Path.GetFileNameWithoutExtension(name)}: {request.Loras[i].Scale.ToString(CultureInfo.InvariantCulture)}"))));
        if (request.UsesControlNet)
        {
            fields.Add(("ControlNet", Path.GetFileName(request.ControlNetImagePath!)));
            fields.Add(("ControlNet strength", request.ControlNetStrength.ToString(CultureInfo.InvariantCulture)));
        }
        fields.Add(("Device", image.Device));
        fields.Add(("Precision", image.Precision));
        fields.Add(("Generation time", image.GenerationTime.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s"));
        fields.Add(("Version", $"{AppInfo.Name} {AppInfo.Version}"));

        var text = new StringBuilder(image.Prompt.Trim()).Append('\n');
        text.AppendJoin(", ", fields.Select(f => $"{f.Key}: {Quote(f.Value)}"));
        return text.ToString();
    }

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A1111's rule: a value holding a comma, colon or newline is written as a JSON string.</summary>
    public static string Quote(string value) =>
        value.IndexOfAny([',', ':', '\n']) >= 0 ? JsonSerializer.Serialize(value, QuoteOptions) : value;
}
