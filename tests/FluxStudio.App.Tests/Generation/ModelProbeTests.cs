using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Models;

namespace FluxStudio.App.Tests.Generation;

/// <summary>What the validator and the CLI learn about a model from its files before it is loaded.</summary>
public sealed class ModelProbeTests(ModelProbeTests.TinyModels tiny) : IClassFixture<ModelProbeTests.TinyModels>
{
    /// <summary>A tiny schnell and a tiny dev model (VAE factor 2, so sizes are multiples of 4), written once for the class.</summary>
    public sealed class TinyModels : IDisposable
    {
        private readonly Engine.Tests.TempFolder _folder = new();

        public TinyModels()
        {
            Engine.TinyModel.TinyModelWriter.Write(Schnell, dev: false, seed: 1);
            Engine.TinyModel.TinyModelWriter.Write(Dev, dev: true, seed: 1);
        }

        public string Root => _folder.Path;
        public string Schnell => _folder.File("tiny-schnell");
        public string Dev => _folder.File("tiny-dev");

        public void Dispose() => _folder.Dispose();
    }

    private readonly ModelProbe _probe = new(new ModelLocator(HubSettings.Resolve(new ModelHubOptions { AllowDownload = false }, _ => null)));

    [Fact]
    public void Sizes_follow_the_VAE_of_the_model_the_request_names()
    {
        var validator = new GenerationRequestValidator(new GenerationRequestValidatorOptions(), loraCatalog: null, _probe);
        var request = TestRequests.Small() with { Width = 40, Height = 24 };

        // FLUX.1 (16) when the model is not on disk, the tiny model's own rule (2 × its VAE factor 2) for its folder.
        Assert.Equal("Width must be a multiple of 16; 40 is not. Try 32 or 48.", validator.Validate(request).Errors["Width"]);
        Assert.True(validator.Validate(request with { ModelPath = tiny.Schnell }).IsValid);
        Assert.Equal("Width must be a multiple of 4; 30 is not. Try 28 or 32.",
            validator.Validate(request with { ModelPath = tiny.Schnell, Width = 30 }).Errors["Width"]);
    }

    [Fact]
    public void The_release_is_read_from_the_weights_whatever_name_is_asked_for()
    {
        Assert.Equal(FluxVariant.Dev, _probe.For(FluxVariant.Schnell, tiny.Dev).Variant);
        Assert.Equal(FluxVariant.Schnell, _probe.For(FluxVariant.Dev, tiny.Schnell).Variant);
    }

    [Fact]
    public void A_model_that_is_not_there_or_not_a_model_gets_FLUX_1s_rule_and_no_release()
    {
        var unknown = new ModelFacts(Engine.Pipeline.ImageSizeRule.Flux1, null);

        Assert.Equal(unknown, _probe.For(FluxVariant.Schnell, tiny.Root));
        Assert.Equal(unknown, _probe.For(FluxVariant.Dev, Path.Combine(tiny.Root, "gone")));
    }
}
