using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.Engine.Models;

/// <summary>
/// Downloads a model repository from the Hugging Face Hub into the cache layout Python's huggingface_hub uses (see
/// <see cref="HubCache"/>), so either can reuse the other's files. It speaks the Hub's public API:
/// <c>GET {endpoint}/api/models/{repo}/revision/{rev}</c> for the commit and file list, <c>HEAD</c> and <c>GET</c> on
/// <c>{endpoint}/{repo}/resolve/{commit}/{path}</c> for each file, whose <c>X-Linked-Etag</c> (large files) or
/// <c>ETag</c> names its blob. Files grow in <c>blobs/{etag}.incomplete</c> and resume with a <c>Range</c> request
/// after a dropped connection or in a later run.
/// </summary>
/// <remarks>
/// The client should not follow redirects by itself (<see cref="ModelsServiceCollectionExtensions.AddFluxModels"/>
/// sets that up): the Hub answers large files with a redirect to a CDN, and the blob name is on the redirect, not on
/// the CDN's answer. Redirects are then followed here, and the token is only ever sent to the endpoint's host.
/// </remarks>
public sealed partial class HubDownloader
{
    private const int MaxRedirects = 10;
    private const int BufferSize = 1 << 20;
    private const long ReportEveryBytes = 1 << 20;

    private readonly HttpClient _http;
    private readonly HubSettings _settings;
    private readonly HubCache _cache;
    private readonly ILogger<HubDownloader> _logger;

    public HubDownloader(HttpClient http, HubSettings settings, ILogger<HubDownloader>? logger = null)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _cache = new HubCache(settings.CacheDirectory);
        _logger = logger ?? NullLogger<HubDownloader>.Instance;
    }

    /// <summary>Downloads every FLUX.1 pipeline part of <paramref name="repoId"/> and returns the snapshot folder.</summary>
    public Task<string> DownloadAsync(
        string repoId, string revision, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken) =>
        DownloadAsync(FluxRepository.FromAlias(repoId), revision, FluxDownloadSelection.Full, progress, cancellationToken);

    /// <summary>Downloads the selected files of a repository revision and returns the snapshot folder.</summary>
    public async Task<string> DownloadAsync(
        FluxRepository repo, string revision, FluxDownloadSelection selection, IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repo);
        ArgumentException.ThrowIfNullOrWhiteSpace(revision);
        ArgumentNullException.ThrowIfNull(selection);
        if (_settings.Offline)
            throw new HubDownloadException(
                $"HF_HUB_OFFLINE is set, so {repo.RepoId} is not downloaded; unset it to download, or use a model already on disk.");

        var (commit, listed) = await WithRetriesAsync(
            () => GetRepoInfoAsync(repo, revision, cancellationToken), $"the file list of {repo.RepoId}", cancellationToken);
        var files = listed.Where(selection.Includes).Distinct().Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new HubDownloadException($"{repo.RepoId} ({revision}) has none of the files of {selection.Description}; nothing was downloaded.");

        var snapshot = _cache.SnapshotFolder(repo, commit);
        if (revision != commit) _cache.WriteRef(repo, revision, commit);

        var plan = new List<PlannedFile>(files.Count);
        foreach (var file in files)
        {
            var pointer = HubCache.SafeCombine(snapshot, file);
            if (DiffusersFolder.FileExists(pointer))
            {
                plan.Add(new PlannedFile(file, null, ResolvedLength(pointer), AlreadyInSnapshot: true));
                continue;
            }
            var (etag, size) = await WithRetriesAsync(
                () => GetFileMetadataAsync(repo, commit, file, cancellationToken), file, cancellationToken);
            plan.Add(new PlannedFile(file, etag, size, AlreadyInSnapshot: false));
        }

        long? total = plan.All(p => p.Size is not null) ? plan.Sum(p => p.Size!.Value) : null;
        long done = 0;
        for (var i = 0; i < plan.Count; i++)
        {
            var item = plan[i];
            long lastReported = -1;
            void Report(long fileBytes, bool force)
            {
                // The first bytes of a file are always reported, then every megabyte.
                if (progress is null || (!force && lastReported > 0 && fileBytes - lastReported < ReportEveryBytes)) return;
                lastReported = fileBytes;
                progress.Report(new DownloadProgress(repo.RepoId, item.Path, i + 1, plan.Count, fileBytes, item.Size, done + fileBytes, total));
            }

            if (item.AlreadyInSnapshot)
            {
                Report(item.Size ?? 0, force: true);
                done += item.Size ?? 0;
                continue;
            }
            var blob = _cache.BlobPath(repo, item.ETag!);
            if (!DiffusersFolder.FileExists(blob) || (item.Size is { } expected && ResolvedLength(blob) != expected))
            {
                Report(0, force: true);
                await DownloadBlobAsync(repo, commit, item, blob, fileBytes => Report(fileBytes, force: false), cancellationToken);
            }
            var size = ResolvedLength(blob);
            Report(size, force: true);
            _cache.LinkIntoSnapshot(blob, snapshot, item.Path);
            done += size;
            _logger.LogDebug("{Repo}: {File} ready ({Bytes} bytes)", repo.RepoId, item.Path, size);
        }
        _logger.LogInformation("{Repo} ({Revision}) is in {Snapshot}", repo.RepoId, revision, snapshot);
        return snapshot;
    }

    /// <summary>Downloads one file of a repository revision (a model that is a single file) and returns its path in the snapshot.</summary>
    public async Task<string> DownloadFileAsync(
        FluxRepository repo, string revision, string repoPath, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var snapshot = await DownloadAsync(repo, revision, FluxDownloadSelection.Only(repoPath), progress, cancellationToken);
        return HubCache.SafeCombine(snapshot, repoPath);
    }

    private sealed record PlannedFile(string Path, string? ETag, long? Size, bool AlreadyInSnapshot);

    private async Task<(string Commit, IReadOnlyList<string> Files)> GetRepoInfoAsync(
        FluxRepository repo, string revision, CancellationToken cancellationToken)
    {
        var uri = new Uri(_settings.Endpoint, $"api/models/{repo.RepoId}/revision/{Uri.EscapeDataString(revision)}");
        using var response = await SendAsync(HttpMethod.Get, uri, rangeFrom: null, followCrossHostRedirects: true, cancellationToken);
        ThrowIfDenied(response, repo);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new HubDownloadException(
                $"{_settings.Endpoint} has no repository {repo.RepoId} with a revision '{revision}' (HTTP 404). Check the model name and revision.");
        ThrowIfFailed(response, uri);

        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            var commit = json.RootElement.GetProperty("sha").GetString() ?? "";
            if (!SafeName().IsMatch(commit))
                throw new HubDownloadException($"The Hub's answer for {repo.RepoId} names an unusable commit '{commit}'.");
            var files = json.RootElement.GetProperty("siblings").EnumerateArray()
                .Select(sibling => sibling.GetProperty("rfilename").GetString() ?? "")
                .Where(name => name.Length > 0)
                .ToList();
            return (commit, files);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HubDownloadException(
                $"{uri} did not answer like a Hugging Face Hub ({e.Message}); check HF_ENDPOINT (now {_settings.Endpoint}).", e);
        }
    }

    private async Task<(string ETag, long? Size)> GetFileMetadataAsync(
        FluxRepository repo, string commit, string path, CancellationToken cancellationToken)
    {
        var uri = ResolveUri(repo, commit, path);
        // As huggingface_hub does: stop at a redirect to another host, because that answer carries the blob's id.
        using var response = await SendAsync(HttpMethod.Head, uri, rangeFrom: null, followCrossHostRedirects: false, cancellationToken);
        ThrowIfDenied(response, repo);
        var redirected = IsRedirect(response.StatusCode);
        if (!redirected) ThrowIfFailed(response, uri);

        var etag = NormalizeETag(Header(response, "X-Linked-Etag") ?? Header(response, "ETag"));
        if (etag is null || !SafeName().IsMatch(etag))
            throw new HubDownloadException(
                $"{uri} sent no usable ETag, which names the file in the cache; HF_ENDPOINT (now {_settings.Endpoint}) must be a Hugging Face Hub or a mirror that answers like one.");
        var size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked
            : redirected ? (long?)null
            : response.Content.Headers.ContentLength;
        return (etag, size);
    }

    private async Task DownloadBlobAsync(
        FluxRepository repo, string commit, PlannedFile item, string blobPath, Action<long> onFileBytes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(blobPath)!);
        var incompletePath = blobPath + ".incomplete";
        FileStream stream;
        try
        {
            stream = new FileStream(incompletePath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true);
        }
        catch (IOException e) when (File.Exists(incompletePath))
        {
            throw new HubDownloadException(
                $"{incompletePath} is being written by another download of {repo.RepoId}; let that one finish, or stop it and run again.", e);
        }

        var uri = ResolveUri(repo, commit, item.Path);
        await using (stream)
        {
            var failuresWithoutProgress = 0;
            while (true)
            {
                var offset = stream.Length;
                if (item.Size is { } known && offset > known) offset = Restart(stream);
                if (offset > 0 && offset == item.Size) break;
                stream.Position = offset;
                try
                {
                    var announced = await TransferAsync(repo, uri, item.Path, stream, offset, onFileBytes, cancellationToken);
                    var expected = item.Size ?? announced;
                    if (expected is null || stream.Length == expected) break;
                    if (stream.Length > expected) Restart(stream);
                    throw new IOException($"the connection ended after {stream.Length:N0} of {expected:N0} bytes");
                }
                catch (Exception e) when (IsTransient(e, cancellationToken))
                {
                    failuresWithoutProgress = stream.Length > offset ? 1 : failuresWithoutProgress + 1;
                    if (failuresWithoutProgress >= _settings.MaxAttempts)
                        throw new HubDownloadException(
                            $"Downloading {item.Path} of {repo.RepoId} failed {failuresWithoutProgress} times in a row ({e.Message}). "
                            + $"The {stream.Length:N0} bytes received are kept in {incompletePath}; run the download again to resume.", e);
                    var delay = RetryDelay(failuresWithoutProgress);
                    _logger.LogWarning("{Repo}: {File} interrupted at byte {Offset} ({Reason}); resuming in {Delay}",
                        repo.RepoId, item.Path, stream.Length, e.Message, delay);
                    await Task.Delay(delay, cancellationToken);
                }
            }
            await stream.FlushAsync(cancellationToken);
            if (item.ETag is { Length: 64 } sha256 && IsHex(sha256))
            {
                // Large files are named by their SHA-256; check it, since a resumed file is stitched from several answers.
                stream.Position = 0;
                var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
                if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
                {
                    Restart(stream);
                    throw new HubDownloadException(
                        $"{item.Path} of {repo.RepoId} arrived corrupted (SHA-256 {actual}, expected {sha256}); the partial file was discarded, run the download again.");
                }
            }
        }
        File.Move(incompletePath, blobPath, overwrite: true);
    }

    /// <summary>Requests the rest of a file from <paramref name="offset"/> and appends it; returns the size the server announced.</summary>
    private async Task<long?> TransferAsync(
        FluxRepository repo, Uri uri, string path, FileStream stream, long offset, Action<long> onFileBytes, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, uri, offset > 0 ? offset : null, followCrossHostRedirects: true, cancellationToken);
        ThrowIfDenied(response, repo);
        long? announced;
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent:
                var range = response.Content.Headers.ContentRange;
                if (range?.From != offset)
                {
                    Restart(stream);
                    throw new IOException($"the server resumed {path} at byte {range?.From} instead of {offset}");
                }
                announced = range.Length ?? offset + response.Content.Headers.ContentLength;
                break;
            case HttpStatusCode.OK:
                if (offset > 0) offset = Restart(stream); // the server ignored the Range header: start over
                announced = response.Content.Headers.ContentLength;
                break;
            case HttpStatusCode.RequestedRangeNotSatisfiable when response.Content.Headers.ContentRange?.Length == offset:
                return offset; // the partial file already holds every byte
            case HttpStatusCode.RequestedRangeNotSatisfiable:
                Restart(stream);
                throw new IOException($"the server refused to resume {path} at byte {offset}");
            default:
                ThrowIfFailed(response, uri);
                throw new HubDownloadException($"{uri} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var position = offset;
            while (true)
            {
                stall.CancelAfter(_settings.StallTimeout);
                int read;
                try
                {
                    read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), stall.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"no data arrived for {_settings.StallTimeout.TotalSeconds:0} s");
                }
                if (read == 0) break;
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                position += read;
                onFileBytes(position);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return announced;
    }

    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, Uri uri, long? rangeFrom, bool followCrossHostRedirects, CancellationToken cancellationToken)
    {
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, uri);
            if (_settings.Token is { } token && SameAuthority(uri, _settings.Endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (rangeFrom is > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            // Sizes and byte offsets refer to the stored bytes, so nothing may arrive compressed.
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            request.Headers.UserAgent.Add(new ProductInfoHeaderValue("FluxStudio", typeof(HubDownloader).Assembly.GetName().Version?.ToString(3) ?? "0"));
            HttpResponseMessage response;
            using (var headersDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                headersDeadline.CancelAfter(_settings.StallTimeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersDeadline.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"{uri.Host} did not answer within {_settings.StallTimeout.TotalSeconds:0} s");
                }
            }
            if (!IsRedirect(response.StatusCode) || response.Headers.Location is not { } location) return response;
            var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
            if (!followCrossHostRedirects && !SameAuthority(next, uri)) return response;
            response.Dispose();
            if (hop >= MaxRedirects) throw new HubDownloadException($"{uri} redirected more than {MaxRedirects} times.");
            uri = next;
        }
    }

    private async Task<T> WithRetriesAsync<T>(Func<Task<T>> action, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action();
            }
            catch (Exception e) when (IsTransient(e, cancellationToken) && attempt < _settings.MaxAttempts)
            {
                var delay = RetryDelay(attempt);
                _logger.LogWarning("Asking the Hub for {What} failed ({Reason}); retrying in {Delay}", what, e.Message, delay);
                await Task.Delay(delay, cancellationToken);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                throw new HubDownloadException(
                    $"Could not get {what} from the Hub at {_settings.Endpoint} after {attempt} attempts ({e.Message}). "
                    + "Check the network connection or HF_ENDPOINT; to use only models already on disk set HF_HUB_OFFLINE=1.", e);
            }
        }
    }

    private void ThrowIfDenied(HttpResponseMessage response, FluxRepository repo)
    {
        if (response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)) return;
        var code = (int)response.StatusCode;
        var page = new Uri(_settings.Endpoint, repo.RepoId);
        var tokenAdvice = _settings.Token is null
            ? "No token was sent: set HF_TOKEN (or the Models:Token setting) to an access token of that account."
            : $"The token from {_settings.TokenSource} was sent and refused: check that it is valid and belongs to the account that accepted the licence.";
        throw new HubAccessDeniedException(
            $"The Hub refused access to {repo.RepoId} (HTTP {code}). {repo.Name} is gated or private: sign in at {page}, "
            + "accept the licence (FLUX.1-dev asks for this once), create an access token under Settings → Access Tokens "
            + $"(read access is enough) and download again. {tokenAdvice}",
            code);
    }

    private static void ThrowIfFailed(HttpResponseMessage response, Uri uri)
    {
        if (response.IsSuccessStatusCode) return;
        var code = response.StatusCode;
        var message = $"{uri} answered HTTP {(int)code} {response.ReasonPhrase}";
        if (IsRetryable(code))
            throw new HttpRequestException(message, null, code);
        throw new HubDownloadException(message + ".");
    }

    private static bool IsTransient(Exception e, CancellationToken cancellationToken) => e switch
    {
        _ when cancellationToken.IsCancellationRequested => false,
        HubDownloadException => false,
        HttpRequestException { StatusCode: null } => true,
        HttpRequestException { StatusCode: { } code } => IsRetryable(code),
        IOException or TimeoutException or OperationCanceledException => true,
        _ => false,
    };

    /// <summary>Server errors, 429 and 408 may pass; every other failed status is final.</summary>
    private static bool IsRetryable(HttpStatusCode code) =>
        (int)code >= 500 || code is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout;

    /// <summary>The pause before retry number <paramref name="failures"/>: the configured delay, doubled with each failure.</summary>
    private TimeSpan RetryDelay(int failures) => _settings.RetryDelay * Math.Pow(2, failures - 1);

    private static long Restart(FileStream stream)
    {
        stream.SetLength(0);
        stream.Position = 0;
        return 0;
    }

    private Uri ResolveUri(FluxRepository repo, string commit, string path) =>
        new(_settings.Endpoint, $"{repo.RepoId}/resolve/{commit}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}");

    private static bool IsRedirect(HttpStatusCode code) => (int)code is >= 300 and < 400;

    private static bool SameAuthority(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.Authority, b.Authority, StringComparison.OrdinalIgnoreCase);

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    /// <summary>Strips the weak marker and quotes: <c>W/"abc"</c> and <c>"abc"</c> both name the blob <c>abc</c>.</summary>
    internal static string? NormalizeETag(string? etag)
    {
        if (etag is null) return null;
        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.OrdinalIgnoreCase)) value = value[2..];
        value = value.Trim('"');
        return value.Length > 0 ? value : null;
    }

    private static long ResolvedLength(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : ((FileInfo)info.ResolveLinkTarget(returnFinalTarget: true)!).Length;
    }

    private static bool IsHex(string value) => value.All(char.IsAsciiHexDigit);

    [GeneratedRegex(@"^(?!\.\.?$)[A-Za-z0-9_.-]{1,128}$")]
    private static partial Regex SafeName();
}
