namespace FluxStudio.Engine.Models;

/// <summary>The two FLUX.1 releases: timestep-distilled schnell and guidance-distilled dev.</summary>
public enum FluxVariant
{
    Schnell,
    Dev,
}

/// <summary>
/// The one place that says what each FLUX.1 release is: the names people type for it, its Hub repository, how many
/// steps it runs by default and whether it takes a guidance scale. The variant that runs is read from the weights
/// (<see cref="FromWeights"/>), whatever name the user chose.
/// </summary>
public static class FluxVariants
{
    /// <summary>The guidance scale dev runs with when none is given, as in Black Forest Labs' reference.</summary>
    public const float DefaultGuidance = 3.5f;

    /// <summary>The name used on the command line, in the API, in history and in the original app: schnell or dev.</summary>
    public static string Alias(this FluxVariant variant) => variant switch
    {
        FluxVariant.Schnell => "schnell",
        FluxVariant.Dev => "dev",
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "Unknown FLUX.1 variant."),
    };

    /// <summary>How people write it in text: FLUX.1 [schnell], FLUX.1 [dev].</summary>
    public static string DisplayName(this FluxVariant variant) => $"FLUX.1 [{variant.Alias()}]";

    /// <summary>The name of the checkpoint file, which image tools (A1111, Forge) show as the model.</summary>
    public static string CheckpointName(this FluxVariant variant) => $"flux1-{variant.Alias()}";

    /// <summary>
    /// Accepts the alias (<c>schnell</c>, <c>dev</c>), the release name (<c>FLUX.1-dev</c>, <c>flux1-dev</c>) and the Hub
    /// repository id (<c>black-forest-labs/FLUX.1-dev</c>), in any case.
    /// </summary>
    public static bool TryParse(string? name, out FluxVariant variant)
    {
        foreach (var candidate in Enum.GetValues<FluxVariant>())
        {
            var alias = candidate.Alias();
            if (name?.Trim().ToLowerInvariant() is { } text
                && (text == alias || text == $"flux.1-{alias}" || text == candidate.CheckpointName()
                    || text == candidate.Repository().RepoId.ToLowerInvariant()))
            {
                variant = candidate;
                return true;
            }
        }
        variant = default;
        return false;
    }

    public static FluxRepository Repository(this FluxVariant variant) =>
        variant == FluxVariant.Dev ? FluxRepository.Dev : FluxRepository.Schnell;

    /// <summary>Whether the transformer has a guidance input (dev); schnell has none.</summary>
    public static bool TakesGuidance(this FluxVariant variant) => variant == FluxVariant.Dev;

    /// <summary>Denoising steps when none are asked for: 4 for schnell, 20 for dev.</summary>
    public static int DefaultSteps(this FluxVariant variant) => variant == FluxVariant.Dev ? 20 : 4;

    /// <summary>The variant a transformer is, read from its weights: guidance-distilled ones are dev-style.</summary>
    public static FluxVariant FromWeights(bool guidanceEmbed) => guidanceEmbed ? FluxVariant.Dev : FluxVariant.Schnell;
}
