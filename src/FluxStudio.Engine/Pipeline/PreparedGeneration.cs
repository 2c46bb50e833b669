using System.Diagnostics;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// A generation with everything its images share already computed (<see cref="FluxPipeline.Prepare"/>): the prompt's
/// encoding, the ControlNet's conditioning, the start picture's latent, the schedule. <see cref="Generate"/> makes one
/// image per seed from them, so a batch encodes its prompt once. Holds tensors until disposed; one image at a time.
/// </summary>
public sealed class PreparedGeneration : IDisposable
{
    /// <summary>The tensors and schedule every image of the batch uses.</summary>
    /// <param name="Start">The start picture's packed latent (image to image), or null to start from noise.</param>
    internal sealed record Inputs(TextConditioning Text, Tensor ImageIds, float[] Timesteps, ControlNetGuide? ControlNet, Tensor? Start);

    private readonly FluxPipeline _pipeline;
    private readonly Inputs _inputs;
    private readonly IReadOnlyList<string> _warnings;
    private readonly ControlNetRun? _controlNetRun;
    private readonly MemoryPlan _plan;
    private TimeSpan _unbilledPreparation;
    private bool _disposed;

    internal PreparedGeneration(FluxPipeline pipeline, FluxGenerationOptions options, float? guidance, IReadOnlyList<string> warnings,
        Inputs inputs, ControlNetRun? controlNetRun, InitImageRun? initImage, MemoryPlan plan, TimeSpan preparation)
    {
        (_pipeline, Options, Guidance, _warnings, _inputs) = (pipeline, options, guidance, warnings, inputs);
        (_controlNetRun, InitImage, _plan, _unbilledPreparation) = (controlNetRun, initImage, plan, preparation);
    }

    public FluxGenerationOptions Options { get; }

    /// <summary>The schedule's steps (some of which image to image skips).</summary>
    public int Steps => _inputs.Timesteps.Length - 1;

    /// <summary>The guidance the transformer receives; null for schnell.</summary>
    public float? Guidance { get; }

    /// <summary>The start picture's strength and first step; null when the images start from noise.</summary>
    public InitImageRun? InitImage { get; }

    /// <summary>The step denoising starts at: 0, or k for image to image.</summary>
    public int FirstStep => InitImage?.FirstStep ?? 0;

    /// <summary>
    /// One image: the seed's noise (mixed with the start picture for image to image), denoised and decoded.
    /// The first image's duration includes the preparation.
    /// </summary>
    /// <param name="seed">0 picks a random seed, reported in the result.</param>
    public FluxGenerationResult Generate(ulong seed, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var clock = Stopwatch.StartNew();
        var model = _pipeline.Model;
        var (width, height, steps) = (Options.Width, Options.Height, Steps);
        seed = seed != 0 ? seed : FluxGenerationOptions.RandomSeed();

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        cancellationToken.ThrowIfCancellationRequested();
        var noise = FluxPipeline.Guard(_plan, "drawing the starting noise", () => LatentPacking.Pack(_pipeline.PrepareNoise(seed, width, height)));
        var (rows, columns) = _pipeline.LatentGrid(width, height);
        var start = _inputs.Start is { } picture ? FluxPipeline.NoisedStart(picture, noise, _inputs.Timesteps[FirstStep]) : noise;
        progress?.Report(new GenerationProgress(GenerationStage.Denoising, FirstStep, steps));
        var packed = FluxPipeline.Guard(_plan, "denoising", () =>
        {
            // Every step frees and allocates the same activations: their pages serve the next step, returned after the last.
            using var keep = NativeHeap.KeepFreedPages();
            return EulerSampler.Denoise(model.Transformer, start, _inputs.ImageIds, _inputs.Text, _inputs.Timesteps, Guidance,
                step => progress?.Report(new GenerationProgress(GenerationStage.Denoising, step.Step + 1, step.Steps,
                    Options.Previews ? FluxPipeline.Preview(step, rows, columns) : null)),
                cancellationToken, _inputs.ControlNet, FirstStep);
        });

        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(new GenerationProgress(GenerationStage.Decoding, steps, steps));
        var decoded = FluxPipeline.Guard(_plan, "decoding the image", () => _pipeline.Decode(packed, rows, columns));
        var image = FluxPipeline.Guard(_plan, "converting the image", () => ImageConversion.ToRgb(decoded));
        progress?.Report(new GenerationProgress(GenerationStage.Done, steps, steps));
        var duration = clock.Elapsed + _unbilledPreparation;
        _unbilledPreparation = TimeSpan.Zero;
        // The precision the transformer ran in, not the one asked for ("auto").
        return new FluxGenerationResult(image, seed, steps, Guidance, width, height, model.Target.DeviceName,
            ComputeTarget.NameOf(model.Transformer.DType), duration, _warnings)
        {
            Variant = model.Variant,
            Loras = model.Loras.Select(l => new LoraUse(l.Path, l.Scale)).ToList(),
            QuantizationBits = model.QuantizationBits,
            ControlNet = _controlNetRun,
            InitImage = InitImage,
        };
    }

    /// <summary><see cref="Generate"/> on a thread of its own.</summary>
    public Task<FluxGenerationResult> GenerateAsync(ulong seed, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        ComputeThreads.Run(() => Generate(seed, progress, cancellationToken), cancellationToken);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _inputs.Text.Dispose();
        _inputs.ImageIds.Dispose();
        _inputs.ControlNet?.Condition.Dispose();
        _inputs.Start?.Dispose();
    }
}
