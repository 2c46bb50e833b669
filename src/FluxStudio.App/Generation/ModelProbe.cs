using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>What a model is, read from its files without loading it.</summary>
/// <param name="SizeRule">The sizes it makes, from its VAE.</param>
/// <param name="Variant">The release its transformer is; null when the model is not on disk yet.</param>
public sealed record ModelFacts(ImageSizeRule SizeRule, FluxVariant? Variant);

/// <summary>
/// Looks at the model a request names before it is loaded: its size rule, from the VAE's config or tensor shapes (so a
/// tiny test model is driven at its own sizes from every surface), and the release its transformer is. A model that is
/// not on disk yet is a published FLUX.1 and gets its size rule; the engine checks again, with the same rule and
/// message, once the model is loaded.
/// </summary>
public sealed class ModelProbe(ModelLocator? locator = null)
{
    private static readonly ModelFacts Unknown = new(ImageSizeRule.Flux1, null);

    public ModelFacts For(FluxVariant model, string? modelPath)
    {
        if (locator is null)
            return Unknown;
        try
        {
            var location = locator.Locate(modelPath, model.Alias());
            var transformer = FluxTransformer.ReadConfig(location.TransformerPath, location.TransformerParamsJson);
            return new ModelFacts(ImageSizeRule.ForVae(location.VaePath), FluxVariants.FromWeights(transformer.GuidanceEmbed));
        }
        catch (Exception e) when (e is ModelNotFoundException or IOException or InvalidDataException or UnauthorizedAccessException
                                       or ArgumentException or System.Text.Json.JsonException)
        {
            // What is wrong with the model is reported when it is loaded, in the loader's own words.
            return Unknown;
        }
    }
}
