using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Tests.ControlNet;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Memory;

public sealed class GenerationMemoryTests
{
    public static ModelFootprint Flux(ScalarType dtype = ScalarType.BFloat16, int? bits = null) =>
        ModelFootprint.Of(FluxConfig.Dev, T5EncoderConfig.FluxT5Xxl, ClipTextConfig.FluxClipL, AutoEncoderConfig.Flux1, dtype, bits);

    private static readonly HashSet<ModelPart> Nothing = [];

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float32)]
    public void ActivationsGrowLinearlyWithThePixelCount(ScalarType dtype)
    {
        // Each step quadruples the pixels; without a tokens × tokens term the increments quadruple too.
        var flux = Flux(dtype);
        long Denoise(long latentSide) => GenerationMemory.TransformerActivations(flux.Transformer, latentSide / 2 * (latentSide / 2), dtype, false);
        long Decode(long latentSide) => GenerationMemory.DecodeActivations(flux.Vae, dtype, latentSide, latentSide);
        Assert.Equal(4.0, (double)(Denoise(256) - Denoise(128)) / (Denoise(128) - Denoise(64)), 3);
        Assert.Equal(4.0, (double)(Decode(64) - Decode(32)) / (Decode(32) - Decode(16)), 3);
        // Past the whole-decode limit the up path works tile by tile: what still grows grows more slowly per pixel.
        Assert.True(GenerationMemory.DecodesInTiles(flux.Vae, dtype, 256, 256) && !GenerationMemory.DecodesInTiles(flux.Vae, dtype, 64, 64));
        Assert.True((Decode(512) - Decode(256)) / (512 * 512 - 256 * 256) < (Decode(64) - Decode(32)) / (64 * 64 - 32 * 32));
    }

    [Fact]
    public void LowMemoryModeNeverCountsTheTextEncodersWithTheTransformer()
    {
        var flux = Flux();
        var weights = flux.WeightBytes;
        var request = new MemoryRequest(512, 512, LowMemory: true);

        Assert.Equal(weights.Values.Sum(), GenerationMemory.Estimate(flux, request with { LowMemory = false }, Nothing).WeightBytes);
        Assert.Equal(weights[ModelPart.Transformer] + weights[ModelPart.Vae], GenerationMemory.Estimate(flux, request, Nothing).WeightBytes);
        // Once the transformer is resident, the prompt's text encoders are what a new image still has to load.
        Assert.Equal(weights[ModelPart.T5] + weights[ModelPart.Clip],
            GenerationMemory.Estimate(flux, request, new HashSet<ModelPart> { ModelPart.Transformer, ModelPart.Vae }).WeightBytes);
        Assert.Equal(0, GenerationMemory.Estimate(flux, request with { LowMemory = false }, Enum.GetValues<ModelPart>().ToHashSet()).WeightBytes);
    }

    [Fact]
    public void TheWholeImageIsDecodedAtOnceUnlessThatPassesTheLimit()
    {
        Assert.False(GenerationMemory.DecodesInTiles(AutoEncoderConfig.Flux1, ScalarType.BFloat16, 128, 128));
        Assert.True(GenerationMemory.DecodesInTiles(AutoEncoderConfig.Flux1, ScalarType.Float32, 128, 128));
        Assert.True(GenerationMemory.DecodesInTiles(AutoEncoderConfig.Flux1, ScalarType.BFloat16, 256, 256));
        var tiny = new AutoEncoderConfig { Channels = 32, ChannelMultipliers = [1, 2], ResBlocks = 1, LatentChannels = 4 };
        Assert.False(GenerationMemory.DecodesInTiles(tiny, ScalarType.Float32, 256, 256));
        Assert.True(GenerationMemory.DecodesInTiles(tiny, ScalarType.Float32, 2048, 2048));
    }

    [Fact]
    public void AControlNetAddsItsWeightsItsResidualsAndTheControlImagesEncoding()
    {
        var plain = ModelFootprint.Read(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ScalarType.Float32, null);
        var guided = plain.WithControlNet(ControlNetTiny.ControlNetFolder);
        using var controlNet = FluxControlNet.Load(ControlNetTiny.ControlNetFolder);
        var request = new MemoryRequest(512, 512, LowMemory: false);

        var (without, with) = (GenerationMemory.Estimate(plain, request), GenerationMemory.Estimate(guided, request));

        Assert.Equal(controlNet.ParameterBytes, guided.WeightBytes[ModelPart.ControlNet]);
        Assert.Equal(without.WeightBytes + controlNet.ParameterBytes, with.WeightBytes);
        // One residual per ControlNet block waits, image tokens × hidden size, while the transformer runs its step.
        var (rows, columns) = (512L / plain.Vae.DownsampleFactor, 512L / plain.Vae.DownsampleFactor);
        long tokens = rows / 2 * (columns / 2);
        long residuals = (controlNet.Config.Depth + controlNet.Config.DepthSingleBlocks) * tokens * controlNet.Config.HiddenSize * sizeof(float);
        long step = GenerationMemory.TransformerActivations(plain.Transformer, tokens, ScalarType.Float32, quantized: false) + residuals;
        Assert.True(with.ActivationBytes >= Math.Max(step, GenerationMemory.EncodeActivations(plain.Vae, ScalarType.Float32, rows, columns)));
        Assert.True(with.ActivationBytes >= without.ActivationBytes);
    }

    [Fact]
    public void TheControlNetCountsOnlyWhenItGuidesTheGeneration()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ComputeTarget.Cpu, lowMemory: true);
        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        var planner = FixedMemory.Planner(null);

        var guided = planner.Check(model, 256, 256, controlNet: true).Estimate;
        var plain = planner.Check(model, 256, 256).Estimate;

        Assert.Equal(FluxControlNet.EstimateParameterBytes(ControlNetTiny.ControlNetFolder, ScalarType.Float32), guided.WeightBytes - plain.WeightBytes);
        Assert.DoesNotContain(ModelPart.ControlNet, model.ResidentParts);
    }

    [Fact]
    public void AStartPictureIsEncodedWholeWhichPassesTheTiledDecodeAtLargeSizes()
    {
        // At 2048² the decoder works tile by tile, but the encoder takes the whole picture at once.
        var flux = Flux();
        var request = new MemoryRequest(2048, 2048, LowMemory: true);
        long side = 2048 / flux.Vae.DownsampleFactor;
        Assert.True(GenerationMemory.DecodesInTiles(flux.Vae, flux.DType, side, side));

        var (plain, fromPicture) = (GenerationMemory.Estimate(flux, request), GenerationMemory.Estimate(flux, request with { FromPicture = true }));

        Assert.Equal(plain.WeightBytes, fromPicture.WeightBytes);
        Assert.True(fromPicture.ActivationBytes >= GenerationMemory.EncodeActivations(flux.Vae, flux.DType, side, side));
        Assert.True(fromPicture.ActivationBytes > plain.ActivationBytes);
    }

    [Fact]
    public void WithAControlNetTheEncoderPeakCountsOnceForBothPictures()
    {
        var guided = ModelFootprint.Read(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ScalarType.Float32, null)
            .WithControlNet(ControlNetTiny.ControlNetFolder);
        var request = new MemoryRequest(512, 512, LowMemory: true);
        long rows = 512 / guided.Vae.DownsampleFactor, columns = rows;
        long latent = rows * columns * guided.Vae.LatentChannels * sizeof(float);

        Assert.InRange(GenerationMemory.Estimate(guided, request with { FromPicture = true }).ActivationBytes
                       - GenerationMemory.Estimate(guided, request).ActivationBytes, 0, latent);
    }

    [Fact]
    public void TheLoadedModelsCheckCountsTheStartPicture()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ComputeTarget.Cpu, lowMemory: true);
        var planner = FixedMemory.Planner(null);
        int side = 2048;
        long latentSide = side / model.Vae.Config.DownsampleFactor;
        Assert.True(GenerationMemory.DecodesInTiles(model.Vae.Config, model.Target.DType, latentSide, latentSide), "large enough to decode in tiles");

        Assert.True(planner.Check(model, side, side, fromPicture: true).Estimate.ActivationBytes > planner.Check(model, side, side).Estimate.ActivationBytes);
    }
}
