using System.Diagnostics;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Sampling;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// Text to image with FLUX.1, as Black Forest Labs' reference does it: tokenize, encode, draw the seed's noise,
/// pack, denoise along the flow-matching schedule, unpack, decode, convert to 8-bit. Each stage is a method of
/// its own so it can be checked against the reference alone.
/// </summary>
/// <param name="memory">Checks each generation against the memory available first (default: this machine's).</param>
public sealed class FluxPipeline(LoadedFluxModel model, MemoryPlanner? memory = null)
{
    private static readonly Scalar PreviewEpsilon = 1e-6, PreviewBlack = 0, PreviewWhite = 255;

    public LoadedFluxModel Model { get; } = model;

    public int DownsampleFactor => Model.VaeConfig.DownsampleFactor;

    /// <summary>The sizes this model makes: multiples of 2 × the VAE factor (16 for FLUX.1).</summary>
    public ImageSizeRule SizeRule => ImageSizeRule.ForVae(Model.VaeConfig);

    public int SizeMultiple => SizeRule.Multiple;

    public int DefaultSteps => Model.Variant.DefaultSteps();

    public FluxGenerationResult Generate(FluxGenerationOptions options, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        using var prepared = Prepare(options, progress, cancellationToken);
        return prepared.Generate(options.Seed, progress, cancellationToken);
    }

    /// <summary>
    /// Computes once what every image of a batch shares: the prompt's encoding, the ControlNet's conditioning and the
    /// start image's latent. <see cref="PreparedGeneration.Generate"/> then makes an image per seed from them.
    /// </summary>
    public PreparedGeneration Prepare(FluxGenerationOptions options, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var warnings = new List<string>(Model.Warnings);
        Validate(options);
        // Before anything is allocated: a generation that cannot fit is refused, saying what would.
        var plan = (memory ?? MemoryPlanner.ForThisMachine).Check(Model, options.Width, options.Height, options.ControlNet is not null,
            options.InitImage is { Strength: > 0 });
        int steps = options.Steps ?? DefaultSteps;
        float? guidance = null;
        if (Model.Variant.TakesGuidance())
            guidance = options.Guidance ?? FluxVariants.DefaultGuidance;
        else if (options.Guidance is not null)
            warnings.Add($"{Model.Variant.DisplayName()} has no guidance input; the guidance value was ignored.");

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(new GenerationProgress(GenerationStage.EncodingPrompt, 0, steps));
        var text = Guard(plan, "encoding the prompt", () => EncodePrompt(options.Prompt, warnings));
        NativeHeap.ReturnFreePages();

        cancellationToken.ThrowIfCancellationRequested();
        var (controlNet, controlNetRun) = options.ControlNet is { } control
            ? Guard(plan, "preparing the ControlNet", () => PrepareControlNet(control, options.Width, options.Height, guidance))
            : (null, null);

        cancellationToken.ThrowIfCancellationRequested();
        var (start, initRun) = (default(Tensor), default(InitImageRun));
        if (options.InitImage is { Strength: 0 })
            warnings.Add("Image strength 0 keeps nothing of the start image; it ran as text to image.");
        else if (options.InitImage is { } init)
        {
            start = Guard(plan, "encoding the start image", () => EncodeInitImage(init.Image, options.Width, options.Height));
            initRun = new InitImageRun(init.Strength, InitImage.FirstStep(steps, init.Strength));
        }

        var (rows, columns) = LatentGrid(options.Width, options.Height);
        var shared = new PreparedGeneration.Inputs(
            new TextConditioning(text.Features.DetachFromDisposeScope(), text.Ids.DetachFromDisposeScope(), text.Pooled.DetachFromDisposeScope()),
            LatentPacking.ImageIds(1, rows, columns, Model.Target.Device).DetachFromDisposeScope(),
            Schedule(steps, (int)(rows * columns)),
            controlNet is null ? null : controlNet with { Condition = controlNet.Condition.DetachFromDisposeScope() },
            start?.DetachFromDisposeScope());
        return new PreparedGeneration(this, options, guidance, warnings, shared, controlNetRun, initRun, plan, clock.Elapsed);
    }

    public Task<FluxGenerationResult> GenerateAsync(FluxGenerationOptions options, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        ComputeThreads.Run(() => Generate(options, progress, cancellationToken), cancellationToken);

    /// <summary><see cref="Prepare"/> on a thread of its own.</summary>
    public Task<PreparedGeneration> PrepareAsync(FluxGenerationOptions options, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        ComputeThreads.Run(() => Prepare(options, progress, cancellationToken), cancellationToken);

    /// <summary>Checks a request against this model; the messages say what to change.</summary>
    public void Validate(FluxGenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.Prompt, nameof(options.Prompt));
        var rule = SizeRule;
        foreach (var (name, value) in new[] { ("Width", options.Width), ("Height", options.Height) })
        {
            if (rule.Check(name, value) is { } problem)
                throw new ArgumentException(problem);
        }
        if (options.Steps is { } steps && (steps < 1 || steps > 1000))
            throw new ArgumentException($"Steps must be between 1 and 1000; got {steps}.");
        if (options.Guidance is { } g && (!float.IsFinite(g) || g < 0 || g > 100))
            throw new ArgumentException($"Guidance must be a number between 0 and 100; got {g}.");
        if (options.ControlNet is { } control)
        {
            ArgumentNullException.ThrowIfNull(control.Image, nameof(options.ControlNet.Image));
            if (!float.IsFinite(control.Strength) || control.Strength < 0 || control.Strength > ControlNetConditioning.MaxStrength)
                throw new ArgumentException(
                    $"The ControlNet strength must be between 0 and {ControlNetConditioning.MaxStrength}; got {control.Strength}.");
            if (!Enum.IsDefined(control.Encoding))
                throw new ArgumentException($"Unknown ControlNet encoding {control.Encoding}; use {string.Join(" or ", Enum.GetNames<ControlNetEncoding>())}.");
            if (Model.ControlNetPath is null)
                throw new InvalidOperationException("A control image was given but no ControlNet is in use: call UseControlNet with its folder first.");
        }
        if (options.InitImage is { } init)
        {
            ArgumentNullException.ThrowIfNull(init.Image, nameof(options.InitImage.Image));
            if (!double.IsFinite(init.Strength) || init.Strength < 0 || init.Strength > 1)
                throw new ArgumentException($"The image strength must be between 0 and 1; got {init.Strength}.");
        }
    }

    /// <summary>CLIP ids (77), T5 ids (512 for dev-style, 256 for schnell), then both encoders.</summary>
    public TextConditioning EncodePrompt(string prompt, List<string>? warnings = null)
    {
        var clip = Model.Tokenizers.Clip.Tokenize(prompt);
        var t5 = Model.Tokenizers.T5.Tokenize(prompt, Model.Config.T5SequenceLength);
        if (clip.TokenCount > clip.Ids.Length)
            warnings?.Add($"The prompt has {clip.TokenCount - 2} CLIP tokens; only the first {clip.Ids.Length - 2} are used by CLIP.");
        if (t5.TokenCount > t5.Ids.Length)
            warnings?.Add($"The prompt has {t5.TokenCount} T5 tokens; only the first {t5.Ids.Length} are used.");
        return Model.Encode(clip.Ids, t5.Ids);
    }

    /// <summary>The seed's starting noise (1, z, H/f, W/f), as the reference draws it (bf16 CPU generator).</summary>
    public Tensor PrepareNoise(ulong seed, int width, int height) =>
        SeededNoise.Draw(seed, Model.VaeConfig.LatentChannels, height, width, DownsampleFactor, Model.Target.Device);

    /// <summary>The packed latent's grid for an image size: rows × columns of 2 × 2 latent patches.</summary>
    public (long Rows, long Columns) LatentGrid(int width, int height) =>
        ((long)Math.Ceiling(height / (2.0 * DownsampleFactor)), (long)Math.Ceiling(width / (2.0 * DownsampleFactor)));

    /// <summary>The timesteps: shifted by the token count for dev-style models, plain for schnell.</summary>
    public float[] Schedule(int steps, int imageSequenceLength) =>
        FlowMatchSchedule.Timesteps(steps, imageSequenceLength, shift: Model.IsGuidanceDistilled);

    /// <summary>
    /// The ControlNet's part of a generation: the Canny edge map of the control image at the output size, its encoding,
    /// and the ControlNet that reads it. With no guidance input on the model, a ControlNet that embeds one gets the default.
    /// </summary>
    private (ControlNetGuide, ControlNetRun) PrepareControlNet(ControlNetConditioning control, int width, int height, float? guidance)
    {
        var edges = CannyControlImage.Prepare(control.Image, width, height);
        var condition = EncodeControlImage(edges, control.Encoding);
        var controlNet = Model.ControlNet ?? throw new InvalidOperationException("No ControlNet is in use: call UseControlNet first.");
        var guide = new ControlNetGuide(controlNet, condition, control.Strength, guidance ?? FluxVariants.DefaultGuidance);
        return (guide, new ControlNetRun(edges, control.Strength, control.Encoding, Model.ControlNetPath!));
    }

    /// <summary>
    /// The packed control latent (1, L_img, in_channels) of an edge map: its pixels in [−1, 1] through the VAE encoder,
    /// the posterior mean taken raw (mflux) or shifted and scaled like an image latent (diffusers).
    /// </summary>
    public Tensor EncodeControlImage(RgbImage edges, ControlNetEncoding encoding)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = ImageConversion.FromRgb(edges, Model.Target.Device);
        var latent = Model.WithVae(vae => encoding == ControlNetEncoding.Diffusers
            ? vae.Encode(pixels)
            : vae.EncodeMoments(pixels).narrow(1, 0, vae.Config.LatentChannels).contiguous());
        return LatentPacking.Pack(latent).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The packed latent (1, L_img, C) of an image-to-image start picture: resized to the output size with Lanczos, in
    /// [−1, 1], through the VAE encoder as an image latent ((mean − shift) · scale, the posterior mean: no sampling), in
    /// float32 like the noise it is mixed with.
    /// </summary>
    public Tensor EncodeInitImage(RgbImage image, int width, int height)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = ImageConversion.FromRgb(LanczosResize.Resize(image, width, height), Model.Target.Device);
        return LatentPacking.Pack(Model.WithVae(vae => vae.Encode(pixels)).to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Where image to image starts: the encoded picture moved along the flow to timestep σ of its first step,
    /// (1 − σ) · picture + σ · noise (mflux's interpolation), in float32.
    /// </summary>
    public static Tensor NoisedStart(Tensor picture, Tensor noise, float sigma)
    {
        using var pictureShare = (1 - sigma).ToScalar();
        using var noiseShare = sigma.ToScalar();
        return (picture * pictureShare).add(noise * noiseShare, One);
    }

    /// <summary>Unpacks the final latent and decodes it (in tiles when the whole image would take too much memory).</summary>
    public Tensor Decode(Tensor packed, long rows, long columns)
    {
        using var latent = LatentPacking.Unpack(packed, rows, columns).to(Model.Target.DType);
        return Model.WithVae(vae => GenerationMemory.DecodesInTiles(vae.Config, Model.Target.DType, 2 * rows, 2 * columns)
            ? vae.DecodeTiled(latent, new Vae.VaeTiling())
            : vae.Decode(latent));
    }

    /// <summary>
    /// A rough preview without the VAE: the predicted clean latent x₀ = x − t·v, its first three channels
    /// stretched to 0–255. Cheap enough for every step, at the latent's resolution.
    /// </summary>
    internal static RgbImage Preview(DenoiseStep step, long rows, long columns)
    {
        using var scope = NewDisposeScope();
        using var nextTimestep = step.NextTimestep.ToScalar();
        var clean = step.Latent - step.Prediction * nextTimestep;
        var latent = LatentPacking.Unpack(clean, rows, columns)[0].narrow(0, 0, 3).to(ScalarType.Float32, CPU);
        var (low, high) = (latent.amin([1, 2], keepdim: true), latent.amax([1, 2], keepdim: true));
        var scaled = ((latent - low) / (high - low).add(PreviewEpsilon, One) * PreviewWhite).clamp(PreviewBlack, PreviewWhite).permute(1, 2, 0).contiguous();
        return new RgbImage((int)latent.shape[2], (int)latent.shape[1], scaled.to(ScalarType.Byte).bytes.ToArray());
    }

    internal static T Guard<T>(MemoryPlan plan, string operation, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is not OperationCanceledException and not EngineMemoryException && EngineMemoryException.IsAllocationFailure(e))
        {
            throw plan.Failure(operation, e);
        }
    }
}
