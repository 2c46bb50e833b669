using System.Text.Json;
using System.Text.Json.Serialization;
using FluxStudio.App.History;

namespace FluxStudio.App.Outputs;

/// <summary>
/// The JSON sidecar written next to an image when metadata export is on. Field names follow mflux's metadata
/// files so tools that read those read ours; <c>fluxstudio_version</c> stands where mflux puts its version.
/// </summary>
public sealed record ImageMetadata
{
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("seed")] public required long Seed { get; init; }
    [JsonPropertyName("steps")] public required int Steps { get; init; }
    [JsonPropertyName("guidance")] public double? Guidance { get; init; }
    [JsonPropertyName("precision")] public required string Precision { get; init; }
    [JsonPropertyName("quantize")] public int? Quantize { get; init; }
    [JsonPropertyName("generation_time_seconds")] public double GenerationTimeSeconds { get; init; }
    [JsonPropertyName("lora_paths")] public IReadOnlyList<string> LoraPaths { get; init; } = [];
    [JsonPropertyName("lora_scales")] public IReadOnlyList<double> LoraScales { get; init; } = [];
    [JsonPropertyName("controlnet_image_path")] public string? ControlNetImagePath { get; init; }
    [JsonPropertyName("controlnet_strength")] public double? ControlNetStrength { get; init; }
    [JsonPropertyName("prompt")] public required string Prompt { get; init; }
    [JsonPropertyName("width")] public int Width { get; init; }
    [JsonPropertyName("height")] public int Height { get; init; }
    [JsonPropertyName("fluxstudio_version")] public string FluxStudioVersion { get; init; } = AppInfo.Version;

    /// <summary>The sidecar of an image as its record describes it (what the engine ran).</summary>
    public static ImageMetadata From(HistoryEntry record) => new()
    {
        Model = record.ModelAlias,
        Seed = record.Seed,
        Steps = record.Steps,
        Guidance = record.Guidance,
        Precision = record.Precision ?? "",
        Quantize = record.Quantize,
        GenerationTimeSeconds = Math.Round(record.GenerationTimeSeconds ?? 0, 3),
        LoraPaths = record.LoraPaths,
        LoraScales = record.LoraScales,
        ControlNetImagePath = record.ControlNetImagePath,
        ControlNetStrength = record.ControlNetStrength,
        Prompt = record.Prompt,
        Width = record.Width,
        Height = record.Height,
    };

    /// <summary>The sidecar's bytes, as written next to the image.</summary>
    public static byte[] Serialize(HistoryEntry record) => JsonSerializer.SerializeToUtf8Bytes(From(record), SerializerOptions);

    public static readonly JsonSerializerOptions SerializerOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
