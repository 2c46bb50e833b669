using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace FluxStudio.App.Background;

/// <summary>
/// Downloads one file of a Hugging Face model repository into the hub cache layout
/// (<c>models--org--name/snapshots/&lt;commit&gt;/&lt;file&gt;</c> plus <c>refs/&lt;revision&gt;</c>), so the Python
/// tools and this app share it. Large files are checked against the SHA-256 the hub announces.
/// </summary>
public sealed class HuggingFaceDownloader : IDisposable
{
    public const string DefaultEndpoint = "https://huggingface.co";
    private const int MaxRedirects = 10;

    private readonly HttpClient _http;

    public HuggingFaceDownloader(HttpMessageHandler? handler = null)
    {
        // Redirects are followed by hand: the commit and hash headers come on the first answer, and the token must
        // not travel to the storage host the hub redirects to.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public sealed record Request(string Endpoint, string Repository, string Revision, string FileInRepository, string HubCache, string? Token);

    /// <param name="progress">Bytes received so far.</param>
    /// <returns>The downloaded file's path in the cache.</returns>
    /// <exception cref="BackgroundRemovalException">The hub refused or the transfer failed; the message says what to do.</exception>
    public async Task<string> DownloadAsync(Request request, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var origin = new Uri($"{request.Endpoint.TrimEnd('/')}/{request.Repository}/resolve/{Uri.EscapeDataString(request.Revision)}/{request.FileInRepository}");
        var repositoryFolder = Path.Combine(request.HubCache, "models--" + request.Repository.Replace("/", "--", StringComparison.Ordinal));
        try
        {
            var (response, commit, expectedSha256) = await GetFollowingRedirectsAsync(origin, request.Token, cancellationToken);
            using (response)
            {
                var revisionIsCommit = request.Revision.Length == 40 && request.Revision.All(Uri.IsHexDigit);
                commit ??= revisionIsCommit ? request.Revision : throw Failure(origin, "the hub did not say which commit it served");
                var target = Path.Combine(repositoryFolder, "snapshots", commit, request.FileInRepository);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var partial = target + ".incomplete";
                try
                {
                    var sha256 = await CopyAsync(response, partial, progress, cancellationToken);
                    if (expectedSha256 is not null && !sha256.Equals(expectedSha256, StringComparison.OrdinalIgnoreCase))
                        throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
                            $"The download of {origin} was damaged (SHA-256 {sha256}, expected {expectedSha256}). Try again.");
                    File.Move(partial, target, overwrite: true);
                }
                finally
                {
                    File.Delete(partial);
                }
                if (!revisionIsCommit)
                {
                    Directory.CreateDirectory(Path.Combine(repositoryFolder, "refs"));
                    await File.WriteAllTextAsync(Path.Combine(repositoryFolder, "refs", request.Revision), commit, cancellationToken);
                }
                return target;
            }
        }
        catch (HttpRequestException exception)
        {
            throw Failure(origin, $"could not reach it: {exception.Message}", exception);
        }
        catch (IOException exception) when (exception is not FileNotFoundException)
        {
            throw Failure(origin, $"the transfer or the cache folder failed: {exception.Message}", exception);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The token the hub tools use: <c>HF_TOKEN</c>, else the file <c>huggingface-cli login</c> writes.</summary>
    public static string? FindToken(Func<string, string?> environment)
    {
        var token = environment("HF_TOKEN");
        if (!string.IsNullOrWhiteSpace(token)) return token.Trim();
        var home = environment("HF_HOME");
        var tokenFile = !string.IsNullOrWhiteSpace(home)
            ? Path.Combine(home, "token")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "token");
        return File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : null;
    }

    private async Task<(HttpResponseMessage Response, string? Commit, string? Sha256)> GetFollowingRedirectsAsync(
        Uri origin, string? token, CancellationToken cancellationToken)
    {
        string? commit = null, sha256 = null;
        var uri = origin;
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, uri);
            if (token is not null && uri.Host == origin.Host)
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            commit ??= Header(response, "X-Repo-Commit");
            sha256 ??= Sha256FromEtag(Header(response, "X-Linked-Etag") ?? (response.IsSuccessStatusCode ? response.Headers.ETag?.Tag : null));
            if (response.IsSuccessStatusCode) return (response, commit, sha256);

            var status = response.StatusCode;
            var location = response.Headers.Location;
            response.Dispose();
            if ((int)status is >= 300 and < 400 && location is not null)
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                continue;
            }
            throw status switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => Failure(origin,
                    $"access was refused ({(int)status}). The repository may be gated: accept its licence on its page, " +
                    "then set HF_TOKEN to a Hugging Face access token (or log in with huggingface-cli)"),
                HttpStatusCode.NotFound => Failure(origin, "the hub has no such file (404)"),
                _ => Failure(origin, $"the hub answered {(int)status} {status}"),
            };
        }
        throw Failure(origin, "too many redirects");
    }

    private static async Task<string> CopyAsync(HttpResponseMessage response, string path, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var source = await response.Content.ReadAsStreamAsync(cancellationToken);
        await using var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 20];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            total += read;
            progress?.Report(total);
        }
        if (response.Content.Headers.ContentLength is { } expected && expected != total)
            throw new IOException($"received {total} of {expected} bytes");
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>Large (LFS) files carry their SHA-256 as ETag; small ones a git hash, which is not checked.</summary>
    private static string? Sha256FromEtag(string? etag)
    {
        var value = etag?.Replace("W/", "", StringComparison.Ordinal).Trim('"');
        return value is { Length: 64 } && value.All(Uri.IsHexDigit) ? value : null;
    }

    private static BackgroundRemovalException Failure(Uri origin, string reason, Exception? inner = null) =>
        new(BackgroundRemovalError.ModelNotFound,
            $"The model could not be downloaded from {origin}: {reason}. You can also download the file by hand and pass its path with --model.",
            inner);
}
