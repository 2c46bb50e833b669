namespace FluxStudio.Engine.Models;

/// <summary>
/// Where models are looked for and how they are downloaded (configuration section <c>Models</c>). Unset values fall back
/// to the environment variables Python's huggingface_hub reads (<c>HF_HUB_CACHE</c>, <c>HF_HOME</c>, <c>HF_ENDPOINT</c>,
/// <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE</c>), so both share one cache; see <see cref="HubSettings.Resolve"/>.
/// </summary>
public sealed class ModelHubOptions
{
    public const string SectionName = "Models";

    /// <summary>The Hugging Face hub cache folder (the one holding <c>models--org--name</c>).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>The Hub's base address, for mirrors; default https://huggingface.co.</summary>
    public string? Endpoint { get; set; }

    /// <summary>An access token; needed for gated models such as FLUX.1-dev.</summary>
    public string? Token { get; set; }

    /// <summary>Whether a model that is not found locally may be downloaded.</summary>
    public bool AllowDownload { get; set; } = true;

    /// <summary>A folder of plain model folders (<c>FLUX.1-schnell/</c>, <c>black-forest-labs/FLUX.1-dev/</c>, …).</summary>
    public string? ModelsRoot { get; set; }

    /// <summary>The branch, tag or commit that is downloaded and looked up through <c>refs/</c>.</summary>
    public string Revision { get; set; } = "main";

    /// <summary>How often one file download is tried in a row without any progress before it fails.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The first pause before a retry; it doubles with every retry that made no progress.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A connection that delivers no byte for this long counts as dropped and is resumed.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
