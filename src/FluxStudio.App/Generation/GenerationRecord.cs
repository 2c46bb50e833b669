using System.Globalization;
using FluxStudio.App.History;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// What is recorded of an image — its history row, and from that row the JSON sidecar and the PNG's
/// <c>parameters</c> — made from what the engine reports it ran: the release the weights are, the steps, the
/// guidance (none for schnell), the seed, the size, the LoRAs and scales, the quantization, the device and the
/// precision. The request supplies only what the engine does not see: the model path it was asked for and the
/// ControlNet settings.
/// </summary>
public static class GenerationRecord
{
    /// <summary>
    /// The history entry of a run, not yet saved: <see cref="HistoryEntry.ImagePath"/> is empty and
    /// <see cref="HistoryEntry.Timestamp"/> is <paramref name="madeAt"/>; the output store fills in the files.
    /// </summary>
    /// <param name="request">The request as the engine was given it (seed chosen, keywords in the prompt).</param>
    public static HistoryEntry Describe(GenerationRequest request, FluxGenerationResult run, DateTimeOffset madeAt) => new()
    {
        Timestamp = madeAt,
        Seed = (long)run.Seed,
        Prompt = request.Prompt,
        ModelAlias = run.Variant.Alias(),
        Quantize = run.QuantizationBits,
        Steps = run.Steps,
        // As the number was written (3.3, not the float's 3.2999999523).
        Guidance = run.Guidance is { } guidance ? double.Parse(guidance.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : null,
        Width = run.Width,
        Height = run.Height,
        ModelPath = request.ModelPath,
        ControlNetImagePath = request.UsesControlNet ? request.ControlNetImagePath : null,
        ControlNetStrength = request.UsesControlNet ? request.ControlNetStrength : null,
        ControlNetSaveCanny = request.UsesControlNet && request.ControlNetSaveCanny,
        LoraPaths = run.Loras.Select(l => l.Path).ToList(),
        LoraScales = run.Loras.Select(l => l.Scale).ToList(),
        ImagePath = "",
        GenerationTimeSeconds = run.Duration.TotalSeconds,
        Device = run.Device,
        Precision = run.Precision,
    };

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
