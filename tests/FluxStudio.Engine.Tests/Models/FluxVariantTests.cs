using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.Models;

/// <summary>The one home of "which FLUX", and the size rule read from a model's VAE without loading it.</summary>
public sealed class FluxVariantTests
{
    [Theory]
    [InlineData("schnell", FluxVariant.Schnell)]
    [InlineData(" Dev ", FluxVariant.Dev)]
    [InlineData("FLUX.1-schnell", FluxVariant.Schnell)]
    [InlineData("flux1-dev", FluxVariant.Dev)]
    [InlineData("black-forest-labs/FLUX.1-dev", FluxVariant.Dev)]
    public void EveryNameOfAReleaseSelectsItAndItsRepository(string name, FluxVariant expected)
    {
        Assert.True(FluxVariants.TryParse(name, out var variant));
        Assert.Equal(expected, variant);
        Assert.Same(expected.Repository(), FluxRepository.FromAlias(name));
        Assert.Equal(expected.Alias(), FluxRepository.FromAlias(name).Alias);
    }

    [Fact]
    public void DefaultsAndGuidanceBelongToTheRelease()
    {
        Assert.Equal((4, false, "flux1-schnell"), (FluxVariant.Schnell.DefaultSteps(), FluxVariant.Schnell.TakesGuidance(), FluxVariant.Schnell.CheckpointName()));
        Assert.Equal((20, true, "flux1-dev"), (FluxVariant.Dev.DefaultSteps(), FluxVariant.Dev.TakesGuidance(), FluxVariant.Dev.CheckpointName()));
        Assert.Equal(FluxVariant.Dev, FluxVariants.FromWeights(guidanceEmbed: true));
        Assert.False(FluxVariants.TryParse("turbo", out _));
    }

    [Fact]
    public void TheSizeRuleComesFromTheVaeConfigOrItsTensorShapesAlike()
    {
        var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixtures.Path("pipeline-tiny", "model", "vae", "config.json"))).RootElement;
        var factor = 1 << (manifest.GetProperty("block_out_channels").GetArrayLength() - 1);

        Assert.Equal(2 * factor, ImageSizeRule.ForVae(Fixtures.Path("pipeline-tiny", "model", "vae")).Multiple);
        Assert.Equal(2 * factor, ImageSizeRule.ForVae(Fixtures.Path("pipeline-tiny", "ae.safetensors")).Multiple);
        Assert.Equal(16, ImageSizeRule.Flux1.Multiple);
    }
}
