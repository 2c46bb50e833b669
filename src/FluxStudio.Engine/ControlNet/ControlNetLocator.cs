using FluxStudio.Engine.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.Engine.ControlNet;

/// <summary>
/// Finds a ControlNet folder (config.json + diffusion_pytorch_model.safetensors, the layout InstantX publishes): one the
/// user names, or InstantX's Canny model under the models root or in the Hugging Face cache, where
/// <see cref="LocateAsync"/> downloads it when it is missing, as the FLUX.1 parts are.
/// </summary>
public sealed class ControlNetLocator
{
    /// <summary>The ControlNet the original app uses (through mflux).</summary>
    public static FluxRepository Canny { get; } = new("InstantX/FLUX.1-dev-Controlnet-Canny", Variant: null, Gated: false);

    private const string Revision = "main";
    private const string ConfigFile = "config.json";
    private static readonly string[] WeightFiles = ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"];

    private readonly HubSettings _settings;
    private readonly HubDownloader? _downloader;
    private readonly ILogger<ControlNetLocator> _logger;

    public ControlNetLocator(HubSettings settings, HubDownloader? downloader = null, ILogger<ControlNetLocator>? logger = null)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _downloader = downloader;
        _logger = logger ?? NullLogger<ControlNetLocator>.Instance;
    }

    /// <summary>Finds a ControlNet without downloading.</summary>
    /// <param name="path">A ControlNet folder, a Hub cache folder of one (<c>models--org--name</c>), or null for InstantX's Canny model.</param>
    /// <returns>The full path of the folder holding config.json and the weights.</returns>
    /// <exception cref="ModelNotFoundException">Nothing usable was found; the message says where it looked and what to do.</exception>
    public string Locate(string? path)
    {
        var searched = new List<string>();
        var folder = path is null ? FindInstalled(searched) : AtPath(Path.GetFullPath(path), searched);
        return folder ?? throw NotFound(path, searched);
    }

    /// <summary>Like <see cref="Locate"/>; when InstantX's Canny model is not on disk and downloads are allowed, downloads it into the Hugging Face cache.</summary>
    public async Task<string> LocateAsync(string? path, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        try
        {
            return Locate(path);
        }
        catch (ModelNotFoundException) when (path is null && _downloader is not null && _settings.AllowDownload)
        {
            _logger.LogInformation("{Repo} is not on disk; downloading it into {Cache}", Canny.RepoId, _settings.CacheDirectory);
            var snapshot = await _downloader.DownloadAsync(Canny, Revision, FluxDownloadSelection.SingleModel, progress, cancellationToken);
            return Missing(snapshot) is { } missing
                ? throw new ModelNotFoundException($"{Canny.RepoId} was downloaded to {snapshot} but {missing}.", [snapshot])
                : snapshot;
        }
    }

    private string? AtPath(string path, List<string> searched)
    {
        if (!Directory.Exists(path))
        {
            searched.Add($"{path}: {(File.Exists(path) ? "a file, not a folder" : "does not exist")}");
            return null;
        }
        if (Missing(path) is null) return path;
        if (Directory.Exists(Path.Combine(path, "snapshots")))
            return FindInSnapshots(path, searched);
        searched.Add($"{path}: {Missing(path)}");
        return null;
    }

    private string? FindInstalled(List<string> searched)
    {
        if (_settings.ModelsRoot is { } root)
        {
            foreach (var candidate in new[] { Path.Combine(root, Canny.Name), Path.Combine([root, .. Canny.RepoId.Split('/')]) })
            {
                if (Missing(candidate) is not { } missing) return candidate;
                searched.Add($"{candidate}: {missing}");
            }
        }
        return FindInSnapshots(new HubCache(_settings.CacheDirectory).RepoFolder(Canny), searched);
    }

    private string? FindInSnapshots(string repoFolder, List<string> searched)
    {
        var cache = new HubCache(Path.GetDirectoryName(repoFolder)!);
        var repo = Canny with { RepoId = ModelLocator.RepoIdOf(repoFolder) ?? Canny.RepoId };
        var candidates = cache.SnapshotCandidates(repo, Revision);
        if (candidates.Count == 0) searched.Add($"{repoFolder}: no snapshots");
        foreach (var (folder, description) in candidates)
        {
            if (Missing(folder) is not { } missing)
            {
                _logger.LogDebug("Using the ControlNet in {Snapshot}", folder);
                return folder;
            }
            searched.Add($"{folder} ({description}): {missing}");
        }
        return null;
    }

    /// <summary>What a ControlNet folder lacks, in words; null when it has config.json and weights.</summary>
    private static string? Missing(string folder)
    {
        if (!Directory.Exists(folder)) return "does not exist";
        var lacks = new List<string>();
        if (!DiffusersFolder.FileExists(Path.Combine(folder, ConfigFile))) lacks.Add(ConfigFile);
        if (!WeightFiles.Any(name => DiffusersFolder.FileExists(Path.Combine(folder, name)))) lacks.Add(WeightFiles[0]);
        return lacks.Count == 0 ? null : $"no {string.Join(" and no ", lacks)}";
    }

    private ModelNotFoundException NotFound(string? path, List<string> searched)
    {
        var lines = new List<string>
        {
            path is null ? $"The ControlNet {Canny.RepoId} was not found. Looked in:" : $"No ControlNet was found at {path}. Looked in:",
        };
        lines.AddRange(searched.Select(place => "  - " + place));
        lines.Add(path is null
            ? $"To get it: allow downloads and it is downloaded from {_settings.Endpoint} into {_settings.CacheDirectory} (the Hugging Face cache, "
              + $"shared with Python tools), or give the folder of a ControlNet with {ConfigFile} and {WeightFiles[0]}."
            : $"A ControlNet folder holds {ConfigFile} and {WeightFiles[0]}, as {Canny.RepoId} publishes them.");
        if (path is null && _settings.Offline)
            lines.Add("HF_HUB_OFFLINE is set, so nothing is downloaded automatically; unset it to allow downloads.");
        return new ModelNotFoundException(string.Join(Environment.NewLine, lines), searched);
    }
}
