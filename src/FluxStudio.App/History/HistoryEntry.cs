namespace FluxStudio.App.History;

public enum HistoryStatus
{
    /// <summary>The row was written and the files are being written; start-up reconciliation finishes or removes it.</summary>
    Saving,
    Saved,
    /// <summary>The files are being deleted; start-up reconciliation finishes the deletion.</summary>
    Deleting,
}

/// <summary>
/// One generated image in history: the original app's columns (timestamp, seed, prompt, model_alias, quantize,
/// steps, guidance, height, width, path, controlnet_*, lora_paths, lora_scales, output_filename) plus how the
/// image was made. <see cref="Prompt"/> is the prompt the model saw, LoRA keywords included.
/// </summary>
public sealed record HistoryEntry
{
    public long Id { get; init; }
    public required DateTimeOffset Timestamp { get; init; }
    public required long Seed { get; init; }
    public required string Prompt { get; init; }
    public required string ModelAlias { get; init; }
    public int? Quantize { get; init; }
    public required int Steps { get; init; }
    public double? Guidance { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }

    /// <summary>The custom model path (the original app's <c>path</c> column), if one was used.</summary>
    public string? ModelPath { get; init; }

    /// <summary>The ControlNet's reference picture as the request named it, when a ControlNet guided the image.</summary>
    public string? ControlNetImagePath { get; init; }

    /// <summary>SHA-256 of the reference picture's file (hex), which identifies it when the path is gone or temporary.</summary>
    public string? ControlNetImageHash { get; init; }

    public double? ControlNetStrength { get; init; }
    public bool ControlNetSaveCanny { get; init; }

    /// <summary>How the edge map conditioned the ControlNet: <c>mflux</c> or <c>diffusers</c>.</summary>
    public string? ControlNetEncoding { get; init; }

    /// <summary>Full path of the Canny edge map the ControlNet was given, kept beside the image and deleted with it.</summary>
    public string? ControlNetCannyPath { get; init; }

    /// <summary>The picture the image started from (image to image), as the request named it.</summary>
    public string? InitImagePath { get; init; }

    /// <summary>SHA-256 of the start picture's file (hex).</summary>
    public string? InitImageHash { get; init; }

    /// <summary>How much of the start picture was kept (mflux's image strength; A1111's denoising strength is 1 − this).</summary>
    public double? ImageStrength { get; init; }

    /// <summary>The batch the image was made in, shared by the images of one request; null for a single image.</summary>
    public string? BatchId { get; init; }
    public IReadOnlyList<string> LoraPaths { get; init; } = [];
    public IReadOnlyList<double> LoraScales { get; init; } = [];

    /// <summary>Full path of the PNG.</summary>
    public required string ImagePath { get; init; }

    /// <summary>Full path of the JSON sidecar, when one was written.</summary>
    public string? MetadataPath { get; init; }

    public double? GenerationTimeSeconds { get; init; }
    public string? Device { get; init; }
    public string? Precision { get; init; }
    public HistoryStatus Status { get; init; } = HistoryStatus.Saved;

    /// <summary><c>fluxstudio</c>, or <c>mflux-gradio</c> for rows imported from the original app.</summary>
    public string Source { get; init; } = HistorySources.FluxStudio;
}

public static class HistorySources
{
    public const string FluxStudio = "fluxstudio";
    public const string OriginalApp = "mflux-gradio";
}
