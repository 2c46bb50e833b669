using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Weights;

public sealed class RecipeInverseTests
{
    [Fact]
    public void InvertingTheTransformerMapGivesTheDiffusersFileBitForBit()
    {
        var config = FluxConfig.FromFile(Fixtures.Path("flux-tiny", "transformer_bfl", "config.json"));
        using var bfl = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "transformer_bfl", "flux1-tiny.safetensors"));
        using var diffusers = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "transformer_diffusers", "diffusion_pytorch_model.safetensors"));
        var canonical = bfl.Names.ToDictionary(n => n, n => bfl.Load(n));

        var converted = RecipeInverse.Invert(FluxKeyMap.Recipes(config), canonical,
            name => FluxKeyMap.FusedPartRows(name, config));

        Assert.Equal(diffusers.Names.Order(), converted.Keys.Order());
        foreach (var name in diffusers.Names)
            TensorAssert.Identical(diffusers.Load(name), converted[name], name);
    }
}
