using System.Text.RegularExpressions;

namespace FluxStudio.Engine.Models;

/// <summary>A model repository on the Hugging Face Hub, named by the alias the user types or by its repo id.</summary>
public sealed partial record FluxRepository(string RepoId, FluxVariant? Variant, bool Gated)
{
    public static FluxRepository Schnell { get; } = new("black-forest-labs/FLUX.1-schnell", FluxVariant.Schnell, Gated: false);

    public static FluxRepository Dev { get; } = new("black-forest-labs/FLUX.1-dev", FluxVariant.Dev, Gated: true);

    /// <summary>The name of this repository's folder in a Hugging Face cache (<c>models--org--name</c>).</summary>
    public string CacheFolderName => "models--" + RepoId.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>The last part of the repo id, e.g. <c>FLUX.1-schnell</c>.</summary>
    public string Name => RepoId[(RepoId.IndexOf('/') + 1)..];

    /// <summary>The shortest name that selects this repository on the command line.</summary>
    public string Alias => this == Schnell || this == Dev ? Variant!.Value.Alias() : RepoId;

    /// <summary>
    /// Accepts <c>schnell</c>, <c>dev</c> (also spelled <c>flux.1-schnell</c>, …) or any <c>org/name</c> repo id of a
    /// FLUX.1 model in the diffusers layout.
    /// </summary>
    public static FluxRepository FromAlias(string alias)
    {
        ArgumentNullException.ThrowIfNull(alias);
        if (FluxVariants.TryParse(alias, out var known))
            return known.Repository();
        var name = alias.Trim();
        if (!RepoIdPattern().IsMatch(name) || name.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException(
                $"'{alias}' is not a model name: use schnell, dev, or a Hugging Face repo id such as black-forest-labs/FLUX.1-schnell.",
                nameof(alias));
        var lower = name.ToLowerInvariant();
        FluxVariant? variant = lower.Contains("schnell", StringComparison.Ordinal) ? FluxVariant.Schnell
            : lower.Contains("dev", StringComparison.Ordinal) ? FluxVariant.Dev
            : null;
        return new FluxRepository(name, variant, Gated: false);
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex RepoIdPattern();
}
