using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Tests.ControlNet;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>
/// Image to image with mflux's meaning on the tiny pipeline model (with the controlnet-tiny ControlNet in use): the
/// start is (1 − σ_k) · encoded picture + σ_k · noise with k = max(1, ⌊steps · S⌋), denoised from step k; S = 0 is text
/// to image. The expected images are composed in the test from the VAE encoder, the seed's noise and the sampler.
/// </summary>
public sealed class ImageToImageTests(ControlNetTinyModel tiny) : IClassFixture<ControlNetTinyModel>
{
    private readonly FluxPipeline _pipeline = new(tiny.Model);

    /// <summary>The baseline run's prompt, seed, size, steps and guidance.</summary>
    private static FluxGenerationOptions RunOptions => ControlNetTiny.RunParameters.Options;

    /// <summary>A start picture of another size than the runs', so it is resized first.</summary>
    private static RgbImage Picture { get; } = ControlNetTiny.ImageNames.Select(name => RgbImageFile.Read(ControlNetTiny.ImagePath(name)))
        .First(image => (image.Width, image.Height) != (RunOptions.Width, RunOptions.Height));

    public static TheoryData<double> Strengths() => [0.1, 0.25, 0.4, 0.7, 0.99];

    [Fact]
    public void StrengthZeroIsTextToImageBitForBit()
    {
        var plain = _pipeline.Generate(RunOptions);
        var atZero = _pipeline.Generate(RunOptions with { InitImage = new InitImage(Picture, 0) });

        Assert.Equal(plain.Image.Pixels, atZero.Image.Pixels);
        Assert.Null(atZero.InitImage);
        Assert.Contains(atZero.Warnings, warning => warning.Contains("text to image"));
    }

    [Theory]
    [MemberData(nameof(Strengths))]
    public void TheRunStartsAtStepKFromThePictureNoisedToItsTimestep(double strength)
    {
        var options = RunOptions with { InitImage = new InitImage(Picture, strength) };
        int steps = options.Steps!.Value;
        int k = Math.Max(1, (int)Math.Floor(steps * strength));
        var denoising = new List<int>();
        var result = _pipeline.Generate(options, new SynchronousProgress<GenerationProgress>(p =>
        {
            if (p.Stage == GenerationStage.Denoising) denoising.Add(p.Step);
        }));

        Assert.Equal(Enumerable.Range(k, steps - k + 1), denoising);
        Assert.Equal(new InitImageRun(strength, k), result.InitImage);
        Assert.Equal(steps, result.Steps);
        Assert.Equal(Reference(options, strength).Pixels, result.Image.Pixels);
        Assert.NotEqual(_pipeline.Generate(RunOptions).Image.Pixels, result.Image.Pixels);
    }

    [Fact]
    public void TheSameInputsGiveTheSamePixelsTwice()
    {
        var options = RunOptions with { InitImage = new InitImage(Picture) };
        Assert.Equal(_pipeline.Generate(options).Image.Pixels, _pipeline.Generate(options).Image.Pixels);
    }

    [Fact]
    public void StrengthOneRunsNoStepAndGivesTheVaesCopyOfThePicture()
    {
        var options = RunOptions with { InitImage = new InitImage(Picture, 1) };
        var result = _pipeline.Generate(options);

        using var scope = NewDisposeScope();
        var resized = LanczosResize.Resize(Picture, options.Width, options.Height);
        var latent = tiny.Model.Vae.Encode(ImageConversion.FromRgb(resized));
        Assert.Equal(ImageConversion.ToRgb(tiny.Model.Vae.Decode(latent)).Pixels, result.Image.Pixels);
        Assert.Equal(options.Steps, result.InitImage!.FirstStep);
    }

    [Theory]
    [MemberData(nameof(ControlNetRuns))]
    public void ImageToImageWorksWithTheControlNet(string run)
    {
        var control = ControlNetTiny.RunOptions(run, RgbImageFile.Read(ControlNetTiny.RunControlImage())).ControlNet!;
        var options = RunOptions with { ControlNet = control, InitImage = new InitImage(Picture, 0.5) };
        var result = _pipeline.Generate(options);

        using var scope = NewDisposeScope();
        var edges = CannyControlImage.Prepare(control.Image, options.Width, options.Height);
        var guide = new ControlNetGuide(tiny.Model.ControlNet!, _pipeline.EncodeControlImage(edges, control.Encoding), control.Strength,
            options.Guidance!.Value);
        Assert.Equal(Reference(options, 0.5, guide).Pixels, result.Image.Pixels);
        Assert.NotNull(result.ControlNet);
        Assert.NotEqual(_pipeline.Generate(options with { ControlNet = null }).Image.Pixels, result.Image.Pixels);
    }

    public static TheoryData<string> ControlNetRuns() => [ControlNetTiny.RunNames.First()];

    [Fact]
    public void ImageToImageWorksOnAQuantizedModelWithALora()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ComputeTarget.Cpu,
            lowMemory: false, quantizeBits: 8);
        model.UseLoras([(Fixtures.Path("lora-tiny", "lora_kohya.safetensors"), 1.0)]);
        var pipeline = new FluxPipeline(model);
        var options = RunOptions with { InitImage = new InitImage(Picture, 0.5) };
        var result = pipeline.Generate(options);

        Assert.Equal((8, 1), (result.QuantizationBits, result.Loras.Count));
        Assert.Equal(Reference(options, 0.5, model: model).Pixels, result.Image.Pixels);
        Assert.NotEqual(pipeline.Generate(RunOptions).Image.Pixels, result.Image.Pixels);
    }

    [Fact]
    public void ABatchEncodesThePromptOnceAndEachImageIsItsSeedsImage()
    {
        var options = RunOptions with { InitImage = new InitImage(Picture, 0.25) };
        var stages = new List<GenerationStage>();
        var progress = new SynchronousProgress<GenerationProgress>(p => stages.Add(p.Stage));
        ulong[] seeds = [options.Seed, options.Seed + 1, options.Seed + 2];
        List<FluxGenerationResult> batch;
        using (var prepared = _pipeline.Prepare(options, progress))
            batch = seeds.Select(seed => prepared.Generate(seed, progress)).ToList();

        Assert.Single(stages, stage => stage == GenerationStage.EncodingPrompt);
        Assert.Equal(seeds.Length, stages.Count(stage => stage == GenerationStage.Done));
        Assert.Equal(seeds, batch.Select(image => image.Seed));
        foreach (var (seed, image) in seeds.Zip(batch))
            Assert.Equal(_pipeline.Generate(options with { Seed = seed }).Image.Pixels, image.Image.Pixels);
        Assert.Equal(seeds.Length, batch.Select(image => Convert.ToHexString(image.Image.Pixels)).Distinct().Count());
    }

    [Fact]
    public void AStrengthOutsideZeroToOneIsRefused()
    {
        foreach (var strength in new[] { -0.1, 1.5, double.NaN })
        {
            var error = Assert.Throws<ArgumentException>(() => _pipeline.Validate(RunOptions with { InitImage = new InitImage(Picture, strength) }));
            Assert.Contains("between 0 and 1", error.Message);
        }
    }

    /// <summary>
    /// The run composed here: the picture resized, the VAE's posterior mean shifted and scaled, packed, mixed with the
    /// seed's packed noise as (1 − σ_k) · picture + σ_k · noise, then denoised from step k and decoded.
    /// </summary>
    private RgbImage Reference(FluxGenerationOptions options, double strength, ControlNetGuide? guide = null, LoadedFluxModel? model = null)
    {
        model ??= tiny.Model;
        var pipeline = new FluxPipeline(model);
        int steps = options.Steps!.Value, k = Math.Max(1, (int)Math.Floor(steps * strength));
        var vae = model.Vae;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = ImageConversion.FromRgb(LanczosResize.Resize(Picture, options.Width, options.Height));
        var mean = vae.EncodeMoments(pixels).narrow(1, 0, vae.Config.LatentChannels);
        using var shiftFactor = vae.Config.ShiftFactor.ToScalar();
        using var scaleFactor = vae.Config.ScaleFactor.ToScalar();
        var picture = LatentPacking.Pack(((mean - shiftFactor) * scaleFactor).to(ScalarType.Float32));
        var noise = LatentPacking.Pack(SeededNoise.Draw(options.Seed, vae.Config.LatentChannels, options.Height, options.Width,
            vae.Config.DownsampleFactor));
        long rows = options.Height / (2 * vae.Config.DownsampleFactor), columns = options.Width / (2 * vae.Config.DownsampleFactor);
        var timesteps = FlowMatchSchedule.Timesteps(steps, (int)(rows * columns), shift: model.IsGuidanceDistilled);
        float sigma = timesteps[k];
        using var pictureShare = (1 - sigma).ToScalar();
        using var noiseShare = sigma.ToScalar();
        var start = (pictureShare * picture).add(noiseShare * noise, One);
        var final = EulerSampler.Denoise(model.Transformer, start, LatentPacking.ImageIds(1, rows, columns), pipeline.EncodePrompt(options.Prompt),
            timesteps, options.Guidance, controlNet: guide, firstStep: k);
        return ImageConversion.ToRgb(pipeline.Decode(final, rows, columns));
    }
}
