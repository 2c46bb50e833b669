using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.Engine.Models;

/// <summary>
/// Finds the parts of a FLUX.1 model: a folder in the diffusers layout given by the user, a single-file transformer
/// with the other parts from a folder or the Hub cache, or a snapshot in the Hugging Face cache that Python tools or an
/// earlier download made; <see cref="LocateAsync"/> also downloads what is missing.
/// </summary>
public sealed class ModelLocator
{
    private static readonly IReadOnlyCollection<string> Everything = [];

    private readonly HubSettings _settings;
    private readonly HubCache _cache;
    private readonly HubDownloader? _downloader;
    private readonly ILogger<ModelLocator> _logger;

    public ModelLocator(HubSettings settings, HubDownloader? downloader = null, ILogger<ModelLocator>? logger = null)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _cache = new HubCache(settings.CacheDirectory);
        _downloader = downloader;
        _logger = logger ?? NullLogger<ModelLocator>.Instance;
    }

    /// <summary>
    /// Finds a model without downloading.
    /// </summary>
    /// <param name="path">A diffusers model folder, a single-file transformer (<c>.safetensors</c>), or null to look in the
    /// models root and the Hugging Face cache.</param>
    /// <param name="modelAlias"><c>schnell</c>, <c>dev</c> or a repo id: which model to look for when no folder is given,
    /// and where the other parts of a single-file transformer come from.</param>
    /// <param name="partsFolder">For a single-file transformer: a diffusers folder with the other parts.</param>
    /// <exception cref="ModelNotFoundException">Nothing usable was found; the message lists where it looked.</exception>
    public ModelLocation Locate(string? path, string modelAlias, string? partsFolder = null)
    {
        var repo = FluxRepository.FromAlias(modelAlias);
        var searched = new List<string>();
        var location = path is null ? FindInstalled(repo, searched) : LocateAtPath(path, repo, partsFolder, searched);
        return location ?? throw NotFound(repo, path, searched);
    }

    /// <summary>
    /// Finds a model like <see cref="Locate"/>; when it is not on disk and downloads are allowed, downloads it from the
    /// Hub into the Hugging Face cache (only the parts a single-file transformer lacks, if one was given).
    /// </summary>
    public async Task<ModelLocation> LocateAsync(
        string? path, string modelAlias, string? partsFolder, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        try
        {
            return Locate(path, modelAlias, partsFolder);
        }
        catch (ModelNotFoundException) when (CanDownloadFor(path, partsFolder))
        {
            var repo = FluxRepository.FromAlias(modelAlias);
            var singleFile = path is not null;
            _logger.LogInformation("{Repo} is not on disk; downloading it into {Cache}", repo.RepoId, _settings.CacheDirectory);
            var snapshot = await _downloader!.DownloadAsync(
                repo, _settings.Revision, singleFile ? FluxDownloadSelection.WithoutTransformer : FluxDownloadSelection.Full,
                progress, cancellationToken);
            var origin = $"{repo.RepoId} downloaded to {snapshot}";
            if (!singleFile)
            {
                DiffusersFolder.Validate(snapshot);
                return FromFolder(snapshot, origin, repo, Everything);
            }
            var transformerFile = Path.GetFullPath(path!);
            var without = PartsBeside(transformerFile);
            DiffusersFolder.Validate(snapshot, without);
            return WithSingleFiles(FromFolder(snapshot, origin, repo, without), transformerFile);
        }
    }

    /// <summary>Checks that a folder holds every part of a FLUX.1 pipeline and describes it.</summary>
    /// <exception cref="IncompleteModelException">A part is missing; the message names it.</exception>
    public static ModelLocation FromDiffusersFolder(string folder)
    {
        var full = Path.GetFullPath(folder);
        DiffusersFolder.Validate(full);
        return FromFolder(full, $"model folder {full}", repo: null, Everything);
    }

    private bool CanDownloadFor(string? path, string? partsFolder) =>
        _downloader is not null && _settings.AllowDownload
        && (path is null || (partsFolder is null && IsSingleFile(path) && File.Exists(path)));

    private ModelLocation? LocateAtPath(string path, FluxRepository repo, string? partsFolder, List<string> searched)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            // A repository folder of a Hub cache (models--org--name) is accepted as well as a snapshot in it.
            if (Directory.Exists(Path.Combine(full, "snapshots")) && !DiffusersFolder.LooksLikeModelFolder(full))
                return FindInRepoFolder(full, repo, searched, where: $"Hub cache folder {full}");
            DiffusersFolder.Validate(full);
            return FromFolder(full, $"model folder {full}", repo: null, Everything);
        }
        if (File.Exists(full))
        {
            if (!IsSingleFile(full))
                throw new ModelNotFoundException(
                    $"{full} is not a .safetensors file. Pickled checkpoints (.ckpt, .pt, .bin) are never loaded because they can run code; "
                    + "use the .safetensors release of the model, or pass a folder in the diffusers layout.", [full]);
            return LocateSingleFile(full, repo, partsFolder, searched);
        }
        searched.Add($"{full}: does not exist");
        return null;
    }

    private ModelLocation? LocateSingleFile(string transformerFile, FluxRepository repo, string? partsFolder, List<string> searched)
    {
        var without = PartsBeside(transformerFile);
        ModelLocation? parts;
        if (partsFolder is not null)
        {
            var folder = Path.GetFullPath(partsFolder);
            if (!Directory.Exists(folder))
            {
                searched.Add($"{folder} (other parts): does not exist");
                return null;
            }
            DiffusersFolder.Validate(folder, without);
            parts = FromFolder(folder, $"model folder {folder}", repo: null, without);
        }
        else
        {
            parts = FindInstalled(repo, searched, without);
            if (parts is null)
            {
                // The parts may also sit next to the file, e.g. a transformer dropped into a model folder.
                var beside = Path.GetDirectoryName(transformerFile)!;
                if (DiffusersFolder.LooksLikeModelFolder(beside) && DiffusersFolder.FindMissingParts(beside, without).Count == 0)
                    parts = FromFolder(beside, $"model folder {beside}", repo: null, without);
                else
                    searched.Add($"{beside} (next to the transformer): not a model folder with the other parts");
            }
        }
        return parts is null ? null : WithSingleFiles(parts, transformerFile);
    }

    /// <summary>
    /// The parts a single-file transformer brings along: itself, and the VAE when BFL's <c>ae.safetensors</c> lies
    /// beside it (as both are published at the root of the FLUX.1 repositories).
    /// </summary>
    private static IReadOnlyCollection<string> PartsBeside(string transformerFile) =>
        File.Exists(BesideVae(transformerFile)) ? [DiffusersFolder.Transformer, DiffusersFolder.Vae] : [DiffusersFolder.Transformer];

    private static string BesideVae(string transformerFile) => Path.Combine(Path.GetDirectoryName(transformerFile)!, "ae.safetensors");

    private static ModelLocation WithSingleFiles(ModelLocation parts, string transformerFile)
    {
        var stem = Path.Combine(Path.GetDirectoryName(transformerFile)!, Path.GetFileNameWithoutExtension(transformerFile));
        var paramsJson = new[] { stem + ".json", stem + ".config.json" }.FirstOrDefault(File.Exists);
        var vae = BesideVae(transformerFile);
        return parts with
        {
            TransformerPath = transformerFile,
            TransformerParamsJson = paramsJson,
            VaePath = File.Exists(vae) ? vae : parts.VaePath,
            Origin = $"transformer {transformerFile} with the other parts from {parts.Origin}",
        };
    }

    private ModelLocation? FindInstalled(FluxRepository repo, List<string> searched, IReadOnlyCollection<string>? without = null)
    {
        if (_settings.ModelsRoot is { } root)
        {
            foreach (var candidate in new[] { Path.Combine(root, repo.Name), Path.Combine([root, .. repo.RepoId.Split('/')]), Path.Combine(root, repo.Alias) }.Distinct())
            {
                if (!Directory.Exists(candidate))
                {
                    searched.Add($"{candidate}: does not exist");
                    continue;
                }
                var missing = DiffusersFolder.FindMissingParts(candidate, without);
                if (missing.Count == 0) return FromFolder(candidate, $"model folder {candidate}", repo, without);
                searched.Add($"{candidate}: incomplete ({string.Join("; ", missing)})");
            }
        }
        return FindInRepoFolder(
            _cache.RepoFolder(repo), repo, searched,
            where: $"Hugging Face cache {_settings.CacheDirectory} (from {_settings.CacheDirectorySource})", without);
    }

    private ModelLocation? FindInRepoFolder(
        string repoFolder, FluxRepository repo, List<string> searched, string where, IReadOnlyCollection<string>? without = null)
    {
        if (!Directory.Exists(repoFolder))
        {
            searched.Add($"{where}: no {Path.GetFileName(repoFolder)}");
            return null;
        }
        // A cache folder given as a path names its own repository, whatever the model alias says.
        if (RepoIdOf(repoFolder) is { } repoId && !string.Equals(repoId, repo.RepoId, StringComparison.OrdinalIgnoreCase))
            repo = FluxRepository.FromAlias(repoId);
        var cache = new HubCache(Path.GetDirectoryName(repoFolder)!);
        var candidates = cache.SnapshotCandidates(repo, _settings.Revision);
        if (candidates.Count == 0) searched.Add($"{repoFolder}: no snapshots");
        foreach (var (folder, description) in candidates)
        {
            if (!Directory.Exists(folder))
            {
                searched.Add($"{repoFolder}: {description} does not exist");
                continue;
            }
            var missing = DiffusersFolder.FindMissingParts(folder, without);
            if (missing.Count == 0)
            {
                _logger.LogDebug("Using {Snapshot}", folder);
                return FromFolder(folder, $"{repo.RepoId} in the {where}, {description}", repo, without);
            }
            searched.Add($"{folder}: incomplete ({string.Join("; ", missing)})");
        }
        return null;
    }

    internal static string? RepoIdOf(string repoFolder)
    {
        var name = Path.GetFileName(repoFolder.TrimEnd(Path.DirectorySeparatorChar));
        if (!name.StartsWith("models--", StringComparison.Ordinal)) return null;
        var parts = name["models--".Length..].Split("--");
        return parts.Length == 2 ? $"{parts[0]}/{parts[1]}" : null;
    }

    /// <summary>Describes a checked folder; parts listed in <paramref name="without"/> are filled in by the caller.</summary>
    private static ModelLocation FromFolder(string folder, string origin, FluxRepository? repo, IReadOnlyCollection<string>? without)
    {
        string Part(string name) => without?.Contains(name) == true ? "" : Path.Combine(folder, name);
        var scheduler = Part(DiffusersFolder.Scheduler);
        return new ModelLocation(
            TransformerPath: Part(DiffusersFolder.Transformer),
            TextEncoderPath: Part(DiffusersFolder.TextEncoder),
            TextEncoder2Path: Part(DiffusersFolder.TextEncoder2),
            TokenizerPath: Part(DiffusersFolder.Tokenizer),
            Tokenizer2Path: Part(DiffusersFolder.Tokenizer2),
            VaePath: Part(DiffusersFolder.Vae),
            SchedulerPath: Directory.Exists(scheduler) ? scheduler : null,
            TransformerParamsJson: null,
            Origin: origin,
            Variant: repo?.Variant,
            RepoId: repo?.RepoId);
    }

    private static bool IsSingleFile(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    private ModelNotFoundException NotFound(FluxRepository repo, string? path, List<string> searched)
    {
        var title = repo.Variant is { } variant ? $"{variant.DisplayName()} ({repo.RepoId})" : repo.RepoId;
        var singleFile = path is not null && File.Exists(path);
        var what = path is null ? title
            : singleFile ? $"The text encoders, tokenizers and VAE to go with {path} ({title})"
            : $"The model at {path}";
        var lines = new List<string> { $"{what} {(singleFile ? "were" : "was")} not found. Looked in:" };
        lines.AddRange(searched.Select(place => "  - " + place));
        lines.Add(singleFile
            ? $"To get them: run `fluxstudio download --model {repo.Alias}` to download the model from {_settings.Endpoint} into "
              + $"{_settings.CacheDirectory} (the Hugging Face cache, shared with Python tools), or name a folder with "
              + $"{DiffusersFolder.TextEncoder}/, {DiffusersFolder.TextEncoder2}/, {DiffusersFolder.Tokenizer}/, {DiffusersFolder.Tokenizer2}/ and {DiffusersFolder.Vae}/."
            : $"To get it: run `fluxstudio download --model {repo.Alias}` to download it from {_settings.Endpoint} into {_settings.CacheDirectory} "
              + $"(the Hugging Face cache, shared with Python tools), or pass --path to a folder with {DiffusersFolder.DescribeLayout()}.");
        if (repo.Gated || repo.Variant == FluxVariant.Dev)
            lines.Add(
                $"{repo.Name} is gated: sign in at {new Uri(_settings.Endpoint, repo.RepoId)}, accept its licence, create an access token "
                + "(Settings → Access Tokens) and set HF_TOKEN to it before downloading.");
        if (_settings.Offline)
            lines.Add("HF_HUB_OFFLINE is set, so nothing is downloaded automatically; unset it to allow downloads.");
        return new ModelNotFoundException(string.Join(Environment.NewLine, lines), searched);
    }
}
