using FluxStudio.App.Generation;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// What a stand-in for the engine reports: it runs exactly what the request asks (the release named, its steps or the
/// release's default, guidance for dev only, the ControlNet and start picture with their strengths). Tests of what the
/// engine itself decides use the real engine.
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
        ControlNet = request.UsesControlNet
            ? new ControlNetRun(EdgeMap(request.Width, request.Height), (float)request.ControlNetStrength, request.ControlNetEncoding, "/controlnet")
            : null,
        InitImage = request.UsesInitImage && request.ImageStrength > 0
            ? new InitImageRun(request.ImageStrength, InitImage.FirstStep(request.ExpectedSteps, request.ImageStrength))
            : null,
    });

    /// <summary>The stand-in's edge map: white lines every fourth row on black, like Canny's 0 and 255.</summary>
    public static RgbImage EdgeMap(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y += 4)
            Array.Fill(pixels, (byte)255, y * width * 3, width * 3);
        return new RgbImage(width, height, pixels);
    }
}
