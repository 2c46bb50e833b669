using FluxStudio.App.Generation;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// What a stand-in for the engine reports: it runs exactly what the request asks (the release named, its steps or the
/// release's default, guidance for dev only). Tests of what the engine itself decides use the real engine.
/// </summary>
public static class FakeRuns
{
    public static GeneratedImage Of(GenerationRequest request, RgbImage image, string device, string precision,
        TimeSpan duration = default) => new(new FluxGenerationResult(image, (ulong)request.Seed, request.ExpectedSteps,
        request.Model.TakesGuidance() ? (float)(request.Guidance ?? FluxVariants.DefaultGuidance) : null, request.Width, request.Height,
        device, precision, duration, [])
    {
        Variant = request.Model,
        Loras = request.Loras.Select(l => new LoraUse(l.Name, l.Scale)).ToList(),
        QuantizationBits = request.Quantize,
    });
}
