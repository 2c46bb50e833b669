using System.Globalization;
using System.Text;
using FluxStudio.App.Generation;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.App.History;

/// <summary>Readable details of a history entry, and the way back from an entry to a request.</summary>
public static class HistoryDetails
{
    /// <summary>One <c>key: value</c> line per setting, in the order a person reads them.</summary>
    public static string Format(HistoryEntry e)
    {
        var lines = new List<(string Key, string Value)>
        {
            ("ID", e.Id.ToString(CultureInfo.InvariantCulture)),
            ("Created", e.Timestamp.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
            ("Prompt", e.Prompt),
            ("Model", e.ModelAlias),
            ("Quantize", e.Quantize?.ToString(CultureInfo.InvariantCulture) ?? "None"),
            ("Steps", e.Steps.ToString(CultureInfo.InvariantCulture)),
            ("Guidance", e.Guidance?.ToString(CultureInfo.InvariantCulture) ?? "None"),
            ("Seed", e.Seed.ToString(CultureInfo.InvariantCulture)),
            ("Width", e.Width.ToString(CultureInfo.InvariantCulture)),
            ("Height", e.Height.ToString(CultureInfo.InvariantCulture)),
            ("Model path", e.ModelPath ?? "None"),
            ("LoRAs", e.LoraPaths.Count == 0 ? "None" : string.Join(", ", e.LoraPaths.Select((p, i) =>
                $"{Path.GetFileName(p)} ({(i < e.LoraScales.Count ? e.LoraScales[i] : 1.0).ToString(CultureInfo.InvariantCulture)})"))),
        };
        if (e.InitImagePath is not null || e.ImageStrength is not null)
        {
            lines.Add(("Start image", e.InitImagePath ?? "None"));
            if (e.InitImageHash is not null)
                lines.Add(("Start image SHA-256", e.InitImageHash));
            lines.Add(("Image strength", e.ImageStrength?.ToString(CultureInfo.InvariantCulture) ?? "None"));
        }
        if (e.ControlNetImagePath is not null)
        {
            lines.Add(("ControlNet image", e.ControlNetImagePath));
            if (e.ControlNetImageHash is not null)
                lines.Add(("ControlNet image SHA-256", e.ControlNetImageHash));
            lines.Add(("ControlNet strength", e.ControlNetStrength?.ToString(CultureInfo.InvariantCulture) ?? "None"));
            if (e.ControlNetEncoding is not null)
                lines.Add(("ControlNet encoding", e.ControlNetEncoding));
            lines.Add(("ControlNet save Canny", e.ControlNetSaveCanny ? "Yes" : "No"));
            if (e.ControlNetCannyPath is not null)
                lines.Add(("ControlNet edge map", e.ControlNetCannyPath));
        }
        if (e.BatchId is not null)
            lines.Add(("Batch", e.BatchId));
        if (e.GenerationTimeSeconds is { } seconds)
            lines.Add(("Generation time", seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"));
        if (e.Device is not null)
            lines.Add(("Device", e.Device));
        if (e.Precision is not null)
            lines.Add(("Precision", e.Precision));
        lines.Add(("File", e.ImagePath));
        if (e.MetadataPath is not null)
            lines.Add(("Metadata file", e.MetadataPath));

        var text = new StringBuilder();
        foreach (var (key, value) in lines)
            text.Append(key).Append(": ").Append(value.ReplaceLineEndings(" ")).Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// The request that reproduces the entry: same model, seed and settings, and the stored prompt (which
    /// already holds the LoRA keywords; composing the prompt again does not repeat them).
    /// </summary>
    public static GenerationRequest ToRequest(HistoryEntry e)
    {
        var model = FluxVariants.TryParse(e.ModelAlias, out var parsed) ? parsed : FluxVariant.Schnell;
        return new GenerationRequest
        {
            Prompt = e.Prompt,
            Model = model,
            Quantize = e.Quantize,
            Steps = e.Steps,
            Seed = e.Seed,
            Guidance = model.TakesGuidance() ? e.Guidance : null,
            Width = e.Width,
            Height = e.Height,
            ModelPath = e.ModelPath,
            Loras = e.LoraPaths
                .Select((p, i) => new LoraSelection(Path.GetFileName(p), i < e.LoraScales.Count ? e.LoraScales[i] : 1.0))
                .ToList(),
            ControlNetImagePath = e.ControlNetImagePath,
            ControlNetStrength = e.ControlNetStrength ?? GenerationRequest.DefaultControlNetStrength,
            ControlNetSaveCanny = e.ControlNetSaveCanny,
            ControlNetEncoding = ControlNetEncodings.TryParse(e.ControlNetEncoding, out var encoding) ? encoding : ControlNetEncoding.Mflux,
            InitImagePath = e.InitImagePath,
            ImageStrength = e.ImageStrength ?? GenerationRequest.DefaultImageStrength,
            Metadata = e.MetadataPath is not null,
        };
    }
}
