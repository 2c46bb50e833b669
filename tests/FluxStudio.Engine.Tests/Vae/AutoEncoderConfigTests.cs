using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Tests.Vae;

public sealed class AutoEncoderConfigTests : IDisposable
{
    private static readonly AutoEncoderConfig Tiny = new()
    {
        Resolution = 64, InChannels = 3, Channels = 32, OutChannels = 3, ChannelMultipliers = [1, 2], ResBlocks = 1,
        LatentChannels = 4, ScaleFactor = 0.3611, ShiftFactor = 0.1159,
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-vae-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void DefaultsAreTheFlux1Vae()
    {
        var config = AutoEncoderConfig.Flux1;
        Assert.Equal(128, config.Channels);
        Assert.Equal([1, 2, 4, 4], config.ChannelMultipliers);
        Assert.Equal(2, config.ResBlocks);
        Assert.Equal(16, config.LatentChannels);
        Assert.Equal(0.3611, config.ScaleFactor);
        Assert.Equal(0.1159, config.ShiftFactor);
        Assert.Equal(8, config.DownsampleFactor);
        Assert.Equal(512, config.InnerChannels);
    }

    [Fact]
    public void BflAndDiffusersConfigFilesDescribeTheSameTinyModel()
    {
        var bfl = AutoEncoderConfig.FromJsonFile(Fixtures.Path("flux-tiny", "vae_bfl", "config.json"));
        var diffusers = AutoEncoderConfig.FromJsonFile(Fixtures.Path("flux-tiny", "vae_diffusers", "config.json"));
        Assert.Equal(Tiny, bfl);
        Assert.Equal(Tiny, diffusers);
        Assert.Equal(2, diffusers.DownsampleFactor);
    }

    [Fact]
    public void ShapesOfASingleFileGiveTheArchitectureAndTheFlux1Factors()
    {
        using var file = SafetensorsFile.Open(VaeGoldens.BflFile);
        var inferred = AutoEncoderConfig.FromTensorShapes(file.Names, name => file.Contains(name) ? file.Info(name).Shape : null);
        // A single file stores no resolution; the rest is read off the shapes, the factors are FLUX.1's.
        Assert.Equal(Tiny with { Resolution = AutoEncoderConfig.Flux1.Resolution }, inferred);
    }

    [Fact]
    public void ShapesOfTheFullSizeModelGiveBackTheFlux1Config()
    {
        // Parameters start empty, so building the 84M-parameter model costs no initialisation.
        using var model = new AutoEncoder(AutoEncoderConfig.Flux1);
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(AutoEncoderConfig.Flux1, AutoEncoderConfig.FromTensorShapes(shapes.Keys, shapes.GetValueOrDefault));
        Assert.Equal(244, shapes.Count);
        Assert.Equal(83_819_683L, shapes.Values.Sum(shape => shape.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void AStableDiffusionStyleConfigIsRefusedWithTheReason()
    {
        var path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, """{"block_out_channels": [128, 256, 512, 512], "use_quant_conv": true, "latent_channels": 4}""");
        var error = Assert.Throws<InvalidDataException>(() => AutoEncoderConfig.FromJsonFile(path));
        Assert.Contains("quant_conv", error.Message);
        Assert.Contains(path, error.Message);
    }

    [Theory]
    [InlineData("""{"block_out_channels": [48, 96]}""", "48 channels")]
    [InlineData("""{"block_out_channels": [32, 48]}""", "multiple of the first")]
    [InlineData("""{"ch": 32, "ch_mult": [1, 2], "scale_factor": 0}""", "scale_factor")]
    [InlineData("""{"hidden_size": 3072}""", "neither a diffusers AutoencoderKL config")]
    [InlineData("""[1, 2]""", "not a JSON object")]
    [InlineData("""{"ch_mult": [1, 2""", "not valid JSON")]
    [InlineData("""{"ch_mult": "wide"}""", "\"ch_mult\" must be a list of integers")]
    [InlineData("""{"block_out_channels": [32, 64], "layers_per_block": 1.5}""", "\"layers_per_block\" must be an integer")]
    public void ABrokenConfigIsReportedNotCrashedOn(string json, string expected)
    {
        var path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, json);
        var error = Assert.Throws<InvalidDataException>(() => AutoEncoderConfig.FromJsonFile(path));
        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), error.Message);
    }
}
