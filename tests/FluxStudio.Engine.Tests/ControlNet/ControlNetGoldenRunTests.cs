using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Tests.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>The tiny pipeline model of the controlnet-tiny set with its ControlNet in use (fp32, CPU), loaded once per test class.</summary>
public sealed class ControlNetTinyModel : IDisposable
{
    public ControlNetTinyModel()
    {
        Model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ComputeTarget.Cpu, lowMemory: false);
        Model.UseControlNet(ControlNetTiny.ControlNetFolder);
    }

    public LoadedFluxModel Model { get; }

    public void Dispose() => Model.Dispose();
}

/// <summary>The control encoding and the four complete runs of tests/Fixtures/controlnet-tiny, through the engine's pipeline.</summary>
public sealed class ControlNetGoldenRunTests : IClassFixture<ControlNetTinyModel>
{
    private readonly FluxPipeline _pipeline;
    private readonly RgbImage _controlImage = RgbImageFile.Read(ControlNetTiny.RunControlImage());

    public ControlNetGoldenRunTests(ControlNetTinyModel tiny) => _pipeline = new FluxPipeline(tiny.Model);

    public static TheoryData<string> Runs() => ControlNetTiny.Runs();

    public static TheoryData<ControlNetEncoding> Encodings() =>
        [.. ControlNetTiny.RunNames.Select(run => ControlNetTiny.RunSettings(run).Encoding).Distinct()];

    [Theory]
    [MemberData(nameof(Encodings))]
    public void TheControlImageIsEncodedLikeTheReference(ControlNetEncoding encoding)
    {
        using var golden = ControlNetTiny.Open("control_encoding.safetensors");
        using var scope = NewDisposeScope();
        var edges = CannyControlImage.Prepare(_controlImage, ControlNetTiny.RunParameters.Width, ControlNetTiny.RunParameters.Height);

        var pixels = ImageConversion.FromRgb(edges);
        TensorAssert.Identical(golden.Load("control_pixels"), pixels, "control pixels");
        var moments = _pipeline.Model.Vae.EncodeMoments(pixels);
        var mean = golden.Load("control_latent_mean");
        long channels = mean.shape[1];
        TensorAssert.Close(mean, moments.narrow(1, 0, channels), 1e-4, "posterior mean");
        TensorAssert.Close(golden.Load("control_latent_logvar"), moments.narrow(1, channels, channels), 1e-4, "posterior log-variance");

        var condition = _pipeline.EncodeControlImage(edges, encoding);
        TensorAssert.Close(golden.Load($"cond_{encoding.ToString().ToLowerInvariant()}"), condition, 1e-4, $"{encoding} conditioning");
    }

    [Fact]
    public void TheTwoEncodingsDifferByTheVaesShiftAndScale()
    {
        using var scope = NewDisposeScope();
        var edges = CannyControlImage.Prepare(_controlImage, ControlNetTiny.RunParameters.Width, ControlNetTiny.RunParameters.Height);
        var vae = _pipeline.Model.Vae.Config;
        using var shiftFactor = vae.ShiftFactor.ToScalar();
        using var scaleFactor = vae.ScaleFactor.ToScalar();
        var raw = _pipeline.EncodeControlImage(edges, ControlNetEncoding.Mflux);
        var scaled = _pipeline.EncodeControlImage(edges, ControlNetEncoding.Diffusers);
        TensorAssert.Close((raw - shiftFactor) * scaleFactor, scaled, 1e-5, "diffusers' conditioning from mflux's");
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryStepMatchesTheReference(string run)
    {
        var args = ControlNetTiny.RunParameters;
        var (encoding, strength) = ControlNetTiny.RunSettings(run);
        using var golden = GoldenRun.OpenGolden(ControlNetTiny.RunFolder(run));
        using var scope = NewDisposeScope();

        var text = _pipeline.EncodePrompt(args.Prompt);
        var noise = _pipeline.PrepareNoise(args.Seed, args.Width, args.Height);
        using (var baseline = GoldenRun.OpenGolden(ControlNetTiny.BaselineRun))
            TensorAssert.Identical(baseline.Load("noise"), noise, "noise");
        var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
        var timesteps = _pipeline.Schedule(args.Steps, (int)(rows * columns));
        Assert.Equal(ControlNetTiny.Manifest.GetProperty("run_common").GetProperty("timesteps").EnumerateArray().Select(t => t.GetSingle()), timesteps);

        var edges = CannyControlImage.Prepare(_controlImage, args.Width, args.Height);
        var condition = _pipeline.EncodeControlImage(edges, encoding);
        TensorAssert.Close(golden.Load("controlnet_cond"), condition, 1e-4, "conditioning");
        var guide = new ControlNetGuide(_pipeline.Model.ControlNet!, condition, strength, args.Guidance);
        GoldenRun.AssertDenoisingMatches(_pipeline, golden, text, noise, timesteps, args.Guidance, guide);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void GenerateReproducesTheReferenceImage(string run)
    {
        using var golden = GoldenRun.OpenGolden(ControlNetTiny.RunFolder(run));
        var options = ControlNetTiny.RunOptions(run, _controlImage);
        var result = _pipeline.Generate(options);

        GoldenRun.AssertImageWithinOneLevel(golden, result.Image.Pixels);
        var png = RgbImageFile.Read(Path.Combine(ControlNetTiny.RunFolder(run), "image.png"));
        Assert.Equal((png.Width, png.Height), (result.Image.Width, result.Image.Height));
        GoldenRun.AssertImageWithinOneLevel(png.Pixels, result.Image.Pixels);

        var controlNet = Assert.IsType<ControlNetRun>(result.ControlNet);
        using var encoding = ControlNetTiny.Open("control_encoding.safetensors");
        Assert.Equal(encoding.Load("control_canny_uint8").data<byte>().ToArray(), controlNet.EdgeMap.Pixels);
        Assert.Equal((options.ControlNet!.Strength, options.ControlNet.Encoding), (controlNet.Strength, controlNet.Encoding));
        Assert.Equal(Path.GetFullPath(ControlNetTiny.ControlNetFolder), controlNet.ControlNetPath);
    }

    [Fact]
    public void StrengthZeroIsThePlainRunBitForBit()
    {
        var run = ControlNetTiny.RunNames.First();
        var options = ControlNetTiny.RunOptions(run, _controlImage);
        var atZero = _pipeline.Generate(options with { ControlNet = options.ControlNet! with { Strength = 0 } });
        var plain = _pipeline.Generate(options with { ControlNet = null });

        Assert.Equal(plain.Image.Pixels, atZero.Image.Pixels);
        Assert.NotNull(atZero.ControlNet);
        Assert.Null(plain.ControlNet);
        using var baseline = GoldenRun.OpenGolden(ControlNetTiny.BaselineRun);
        GoldenRun.AssertImageWithinOneLevel(baseline, plain.Image.Pixels);
    }
}
