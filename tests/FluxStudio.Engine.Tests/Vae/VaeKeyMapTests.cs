using System.Text.Json;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Tests.Vae;

public sealed class VaeKeyMapTests
{
    private static Dictionary<string, string> ConversionMap()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("flux-tiny", "vae_diffusers", "conversion_map.json")));
        return json.RootElement.EnumerateObject()
            .ToDictionary(entry => entry.Name, entry => entry.Value.GetProperty("bfl_key").GetString()!);
    }

    [Fact]
    public void EveryDiffusersNameOfTheReferenceConversionMapsToItsBflName()
    {
        var map = ConversionMap();
        Assert.Equal(120, map.Count);
        foreach (var (diffusers, bfl) in map)
        {
            Assert.Equal(bfl, VaeKeyMap.DiffusersToBfl(diffusers, levelCount: 2));
            Assert.Equal(diffusers, VaeKeyMap.BflToDiffusers(bfl, levelCount: 2));
        }
    }

    [Fact]
    public void DiffusersCheckpointUnderBflNamesIsBitExactToTheBflFile()
    {
        using var bfl = SafetensorsFile.Open(VaeGoldens.BflFile);
        using var diffusers = VaeKeyMap.FromDiffusers(TensorSources.Open(VaeGoldens.DiffusersFolder));

        Assert.Equal(bfl.Names.Order(), diffusers.Names.Order());
        foreach (var name in bfl.Names)
        {
            using var expected = bfl.Load(name);
            using var actual = diffusers.Load(name);
            TensorAssert.Identical(expected, actual, $"{name} after the conversion");
            Assert.Equal(bfl.Info(name).Shape, diffusers.Info(name).Shape);
        }
    }

    [Fact]
    public void DecoderLevelsAreReversedForTheRealFourLevelVae()
    {
        Assert.Equal("decoder.up.3.block.2.conv1.weight",
            VaeKeyMap.DiffusersToBfl("decoder.up_blocks.0.resnets.2.conv1.weight", levelCount: 4));
        Assert.Equal("decoder.up.1.upsample.conv.bias",
            VaeKeyMap.DiffusersToBfl("decoder.up_blocks.2.upsamplers.0.conv.bias", levelCount: 4));
        Assert.Equal("encoder.down.2.downsample.conv.weight",
            VaeKeyMap.DiffusersToBfl("encoder.down_blocks.2.downsamplers.0.conv.weight", levelCount: 4));
        Assert.Equal("decoder.up_blocks.3.resnets.0.conv_shortcut.weight",
            VaeKeyMap.BflToDiffusers("decoder.up.0.block.0.nin_shortcut.weight", levelCount: 4));
    }

    [Fact]
    public void OlderDiffusersAttentionNamesAreUnderstood()
    {
        Assert.Equal("encoder.mid.attn_1.q.weight", VaeKeyMap.DiffusersToBfl("encoder.mid_block.attentions.0.query.weight", 4));
        Assert.Equal("decoder.mid.attn_1.proj_out.bias", VaeKeyMap.DiffusersToBfl("decoder.mid_block.attentions.0.proj_attn.bias", 4));
    }

    [Theory]
    [InlineData("quant_conv.weight")]
    [InlineData("encoder.mid_block.attentions.0.to_out.1.weight")]
    [InlineData("decoder.up_blocks.4.resnets.0.conv1.weight")]
    [InlineData("encoder.down_blocks.0.resnets.0.conv3.weight")]
    [InlineData("decoder.down_blocks.0.resnets.0.conv1.weight")]
    public void NamesWithoutACounterpartMapToNothing(string name) =>
        Assert.Null(VaeKeyMap.DiffusersToBfl(name, levelCount: 4));

    [Fact]
    public void LayoutIsDetectedFromTheNames()
    {
        using var bfl = SafetensorsFile.Open(VaeGoldens.BflFile);
        using var diffusers = TensorSources.Open(VaeGoldens.DiffusersFolder);
        Assert.Equal(VaeLayout.Bfl, VaeKeyMap.DetectLayout(bfl.Names, bfl.Description));
        Assert.Equal(VaeLayout.Diffusers, VaeKeyMap.DetectLayout(diffusers.Names, diffusers.Description));
        Assert.Equal(2, VaeKeyMap.DiffusersLevelCount(diffusers.Names));
    }

    [Fact]
    public void ATransformerCheckpointIsNotTakenForAVae()
    {
        using var transformer = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "transformer_bfl", "flux1-tiny.safetensors"));
        var error = Assert.Throws<InvalidDataException>(() => VaeKeyMap.DetectLayout(transformer.Names, "flux1-tiny.safetensors"));
        Assert.Contains("flux1-tiny.safetensors is not a FLUX.1 VAE", error.Message);
        Assert.Contains("double_blocks", error.Message);
    }
}
