using System.Text.Json;
using System.Text.Json.Serialization;
using FluxStudio.App.History;

namespace FluxStudio.App.Outputs;

/// <summary>
/// The JSON sidecar written next to an image when metadata export is on. Field names follow mflux's metadata
/// files so tools that read those read ours (<c>image_path</c> and <c>image_strength</c> are mflux's image-to-image
/// fields); <c>fluxstudio_version</c> stands where mflux puts its version, and the <c>*_hash</c> fields (SHA-256 of the
/// input files), <c>controlnet_encoding</c> and <c>batch_id</c> are ours.
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
    [JsonPropertyName("image_path")] public string? ImagePath { get; init; }
    [JsonPropertyName("image_strength")] public double? ImageStrength { get; init; }
    [JsonPropertyName("image_hash")] public string? ImageHash { get; init; }
    [JsonPropertyName("controlnet_image_path")] public string? ControlNetImagePath { get; init; }
    [JsonPropertyName("controlnet_strength")] public double? ControlNetStrength { get; init; }
    [JsonPropertyName("controlnet_image_hash")] public string? ControlNetImageHash { get; init; }
    [JsonPropertyName("controlnet_encoding")] public string? ControlNetEncoding { get; init; }
    [JsonPropertyName("batch_id")] public string? BatchId { get; init; }
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
        ImagePath = record.InitImagePath,
        ImageStrength = record.ImageStrength,
        ImageHash = record.InitImageHash,
        ControlNetImagePath = record.ControlNetImagePath,
        ControlNetStrength = record.ControlNetStrength,
        ControlNetImageHash = record.ControlNetImageHash,
        ControlNetEncoding = record.ControlNetEncoding,
        BatchId = record.BatchId,
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
