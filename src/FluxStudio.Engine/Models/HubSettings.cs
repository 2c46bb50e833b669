namespace FluxStudio.Engine.Models;

/// <summary>
/// The model settings after the environment has been read: explicit options win, then the variables Python's
/// huggingface_hub uses, then its defaults. Each place also says where it came from, for messages.
/// </summary>
public sealed record HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    public required string CacheDirectory { get; init; }

    /// <summary>Why this cache folder was chosen (an option, HF_HUB_CACHE, HF_HOME or the default).</summary>
    public required string CacheDirectorySource { get; init; }

    public required Uri Endpoint { get; init; }

    public string? Token { get; init; }

    /// <summary>Where the token came from, never the token itself.</summary>
    public string? TokenSource { get; init; }

    /// <summary>HF_HUB_OFFLINE is set: nothing is downloaded whatever <see cref="ModelHubOptions.AllowDownload"/> says.</summary>
    public bool Offline { get; init; }

    public bool AllowDownload { get; init; } = true;

    public string? ModelsRoot { get; init; }

    public string Revision { get; init; } = "main";

    public int MaxAttempts { get; init; } = 5;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Resolves the options against an environment given as a lookup function (so tests can supply one).</summary>
    public static HubSettings Resolve(ModelHubOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        string? Env(string name) => environment(name) is { Length: > 0 } value ? value.Trim() : null;

        var home = Env("HOME") ?? Env("USERPROFILE") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string Expand(string path) =>
            path == "~" ? home
            : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal) ? Path.Combine(home, path[2..])
            : path;

        // huggingface_hub: HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
        var hfHomeVariable = Env("HF_HOME");
        var xdgCache = Env("XDG_CACHE_HOME");
        var hfHome = Expand(hfHomeVariable ?? Path.Combine(xdgCache is null ? Path.Combine(home, ".cache") : Expand(xdgCache), "huggingface"));

        (string Path, string Source) cache =
            options.CacheDirectory is { Length: > 0 } configured ? (Expand(configured), "the Models:CacheDirectory setting")
            : Env("HF_HUB_CACHE") is { } hubCache ? (Expand(hubCache), "HF_HUB_CACHE")
            : Env("HUGGINGFACE_HUB_CACHE") is { } legacyCache ? (Expand(legacyCache), "HUGGINGFACE_HUB_CACHE")
            : hfHomeVariable is not null ? (Path.Combine(hfHome, "hub"), "HF_HOME")
            : xdgCache is not null ? (Path.Combine(hfHome, "hub"), "XDG_CACHE_HOME")
            : (Path.Combine(hfHome, "hub"), "the default location");

        var endpointText = options.Endpoint is { Length: > 0 } e ? e.Trim() : Env("HF_ENDPOINT") ?? DefaultEndpoint;
        if (!Uri.TryCreate(endpointText.TrimEnd('/') + "/", UriKind.Absolute, out var endpoint)
            || endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException(
                $"The Hub endpoint '{endpointText}' is not an http(s) address; fix HF_ENDPOINT or the Models:Endpoint setting (default {DefaultEndpoint}).");

        var (token, tokenSource) = ResolveToken(options, Env, Expand, hfHome);
        var offline = Env("HF_HUB_OFFLINE") is { } flag && flag.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

        return new HubSettings
        {
            CacheDirectory = Path.GetFullPath(cache.Path),
            CacheDirectorySource = cache.Source,
            Endpoint = endpoint,
            Token = token,
            TokenSource = tokenSource,
            Offline = offline,
            AllowDownload = options.AllowDownload && !offline,
            ModelsRoot = options.ModelsRoot is { Length: > 0 } root ? Path.GetFullPath(Expand(root)) : null,
            Revision = string.IsNullOrWhiteSpace(options.Revision) ? "main" : options.Revision.Trim(),
            MaxAttempts = Math.Max(1, options.MaxAttempts),
            RetryDelay = options.RetryDelay < TimeSpan.Zero ? TimeSpan.Zero : options.RetryDelay,
            StallTimeout = options.StallTimeout <= TimeSpan.Zero ? TimeSpan.FromSeconds(60) : options.StallTimeout,
        };
    }

    private static (string? Token, string? Source) ResolveToken(
        ModelHubOptions options, Func<string, string?> env, Func<string, string> expand, string hfHome)
    {
        if (options.Token is { Length: > 0 } configured) return (configured.Trim(), "the Models:Token setting");
        if (env("HF_TOKEN") is { } token) return (token, "HF_TOKEN");
        if (env("HUGGING_FACE_HUB_TOKEN") is { } legacy) return (legacy, "HUGGING_FACE_HUB_TOKEN");
        // `huggingface-cli login` stores the token in a file; reuse it like huggingface_hub does.
        var tokenFile = env("HF_TOKEN_PATH") is { } path ? expand(path) : Path.Combine(hfHome, "token");
        try
        {
            if (File.Exists(tokenFile) && File.ReadAllText(tokenFile).Trim() is { Length: > 0 } stored)
                return (stored, tokenFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An unreadable token file is the same as none: public models still download.
        }
        return (null, null);
    }
}
