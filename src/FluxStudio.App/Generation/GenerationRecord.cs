using System.Globalization;
using FluxStudio.App.History;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// What is recorded of an image — its history row, and from that row the JSON sidecar and the PNG's
/// <c>parameters</c> — made from what the engine reports it ran: the release the weights are, the steps, the
/// guidance (none for schnell), the seed, the size, the LoRAs and scales, the quantization, the device and the
/// precision, the ControlNet's strength and encoding, the start image's strength. The request supplies only what the
/// engine does not see: the model path it was asked for and the input pictures' paths; the use case adds their hashes
/// and the batch.
/// </summary>
public static class GenerationRecord
{
    /// <summary>
    /// The history entry of a run, not yet saved: <see cref="HistoryEntry.ImagePath"/> is empty and
    /// <see cref="HistoryEntry.Timestamp"/> is <paramref name="madeAt"/>; the output store fills in the files.
    /// </summary>
    /// <param name="request">The request as the engine was given it (seed chosen, keywords in the prompt).</param>
    /// <param name="inputs">The SHA-256 of the input pictures, when the request has them.</param>
    /// <param name="batchId">The batch the image belongs to, when the request makes several.</param>
    public static HistoryEntry Describe(GenerationRequest request, FluxGenerationResult run, DateTimeOffset madeAt,
        InputHashes? inputs = null, string? batchId = null) => new()
    {
        Timestamp = madeAt,
        Seed = (long)run.Seed,
        Prompt = request.Prompt,
        ModelAlias = run.Variant.Alias(),
        Quantize = run.QuantizationBits,
        Steps = run.Steps,
        Guidance = run.Guidance is { } guidance ? AsWritten(guidance) : null,
        Width = run.Width,
        Height = run.Height,
        ModelPath = request.ModelPath,
        ControlNetImagePath = run.ControlNet is null ? null : request.ControlNetImagePath,
        ControlNetImageHash = run.ControlNet is null ? null : inputs?.ControlNetImage,
        ControlNetStrength = run.ControlNet is { } controlNet ? AsWritten(controlNet.Strength) : null,
        ControlNetSaveCanny = run.ControlNet is not null && request.ControlNetSaveCanny,
        ControlNetEncoding = run.ControlNet?.Encoding.Name(),
        InitImagePath = run.InitImage is null ? null : request.InitImagePath,
        InitImageHash = run.InitImage is null ? null : inputs?.InitImage,
        ImageStrength = run.InitImage?.Strength,
        BatchId = batchId,
        LoraPaths = run.Loras.Select(l => l.Path).ToList(),
        LoraScales = run.Loras.Select(l => l.Scale).ToList(),
        ImagePath = "",
        GenerationTimeSeconds = run.Duration.TotalSeconds,
        Device = run.Device,
        Precision = run.Precision,
    };

    /// <summary>A float the engine ran with, as the number was written (3.3, not the float's 3.2999999523).</summary>
    private static double AsWritten(float value) => double.Parse(value.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>
    /// What the user should know about a run: what the engine changed or ignored, and a release that is not the one
    /// asked for (the record names the release the weights are).
    /// </summary>
    public static IReadOnlyList<string> Warnings(GenerationRequest request, FluxGenerationResult run)
    {
        var warnings = new List<string>();
        if (run.Variant != request.Model)
            warnings.Add($"{request.Model.DisplayName()} was chosen, but the model{(request.ModelPath is { } path ? $" at {path}" : "")} is " +
                         $"{run.Variant.DisplayName()}; it ran as {run.Variant.Alias()} ({run.Steps} steps, " +
                         $"{(run.Guidance is { } g ? $"guidance {g.ToString(CultureInfo.InvariantCulture)}" : "no guidance")}) and is recorded so.");
        warnings.AddRange(run.Warnings);
        return warnings;
    }
}

/// <summary>SHA-256 (hex) of a request's input pictures, which identify them when their paths are gone or temporary.</summary>
public sealed record InputHashes(string? ControlNetImage, string? InitImage)
{
    /// <summary>Hashes the pictures the request names (each file read once).</summary>
    public static async Task<InputHashes> OfAsync(GenerationRequest request, CancellationToken ct) => new(
        request.UsesControlNet ? await HashAsync(request.ControlNetImagePath!, ct) : null,
        request.UsesInitImage ? await HashAsync(request.InitImagePath!, ct) : null);

    private static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(file, ct));
    }
}
