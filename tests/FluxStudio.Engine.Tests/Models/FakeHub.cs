using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace FluxStudio.Engine.Tests.Models;

/// <summary>A request the fake Hub received.</summary>
internal sealed record HubRequest(string Server, string Method, string Path, string? File, string? Range, string? Authorization);

/// <summary>
/// A loopback server that answers like the Hugging Face Hub: the model-info API, <c>resolve</c> URLs that redirect
/// large files to a separate "CDN" listener (with <c>X-Linked-Etag</c>/<c>X-Linked-Size</c> on the redirect, as the Hub
/// does) and serve small files directly with their git blob id as ETag, byte ranges, and optional misbehaviour.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _hub;
    private readonly HttpListener _cdn;
    private readonly Dictionary<string, FakeFluxRepo> _repos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Path, byte[] Content)> _blobsBySha = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _getCounts = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    public FakeHub(params FakeFluxRepo[] repos)
    {
        foreach (var repo in repos)
        {
            _repos[repo.RepoId] = repo;
            foreach (var (path, content) in repo.Files)
                if (FakeFluxRepo.IsLfs(path)) _blobsBySha[FakeFluxRepo.BlobId(path, content)] = (path, content);
        }
        (_hub, Endpoint) = Start();
        (_cdn, CdnEndpoint) = Start();
        _ = ServeAsync(_hub, "hub", HandleHubAsync);
        _ = ServeAsync(_cdn, "cdn", HandleCdnAsync);
    }

    public Uri Endpoint { get; }

    public Uri CdnEndpoint { get; }

    public ConcurrentQueue<HubRequest> Requests { get; } = new();

    /// <summary>When set, every Hub request without <c>Authorization: Bearer {token}</c> gets 401.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Files whose first full download is cut off after half its bytes by aborting the connection.</summary>
    public HashSet<string> DropMidwayOnce { get; } = new(StringComparer.Ordinal);

    /// <summary>Files whose every download is cut off midway (a connection that never gets through).</summary>
    public HashSet<string> AlwaysDrop { get; } = new(StringComparer.Ordinal);

    /// <summary>Files whose first download sends half its bytes and then stalls until <see cref="ReleaseStalled"/>.</summary>
    public HashSet<string> StallMidwayOnce { get; } = new(StringComparer.Ordinal);

    /// <summary>Files whose bytes are served with one byte changed (the ETag stays that of the real content).</summary>
    public HashSet<string> Corrupt { get; } = new(StringComparer.Ordinal);

    public SemaphoreSlim ReleaseStalled { get; } = new(0);

    /// <summary>GET requests for a repository file, at the Hub and at the CDN it redirects to.</summary>
    public IEnumerable<HubRequest> FileGets(string path) => Requests.Where(r => r.Method == "GET" && r.File == path);

    public void Dispose()
    {
        _stop.Cancel();
        ReleaseStalled.Release(100);
        _hub.Close();
        _cdn.Close();
    }

    private static (HttpListener, Uri) Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            var listener = new HttpListener();
            var prefix = $"http://127.0.0.1:{LoopbackPorts.Free()}/";
            listener.Prefixes.Add(prefix);
            try
            {
                listener.Start();
                return (listener, new Uri(prefix));
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close(); // the port was taken in between; try another
            }
        }
    }

    private async Task ServeAsync(HttpListener listener, string server, Func<HttpListenerContext, Task> handle)
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested || !listener.IsListening)
            {
                return;
            }
            var request = context.Request;
            Requests.Enqueue(new HubRequest(
                server, request.HttpMethod, request.Url!.AbsolutePath, FileOf(server, request.Url!.AbsolutePath),
                request.Headers["Range"], request.Headers["Authorization"]));
            _ = Task.Run(async () =>
            {
                try
                {
                    await handle(context);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                }
                catch (HttpListenerException)
                {
                    // The client went away (e.g. it cancelled); nothing to answer.
                }
                catch (IOException)
                {
                }
            });
        }
    }

    private async Task HandleHubAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (RequiredToken is not null && request.Headers["Authorization"] != $"Bearer {RequiredToken}")
        {
            await WriteTextAsync(response, 401, """{"error": "Access to model black-forest-labs/FLUX.1-dev is restricted. You must have access to it and be authenticated to access it. Please log in."}""");
            return;
        }
        var path = Uri.UnescapeDataString(request.Url!.AbsolutePath).TrimStart('/');
        var segments = path.Split('/');

        // /api/models/{org}/{name}/revision/{rev}
        if (segments is ["api", "models", var org, var name, "revision", var revision] && request.HttpMethod == "GET")
        {
            if (!_repos.TryGetValue($"{org}/{name}", out var repo) || (revision != "main" && revision != repo.Commit))
            {
                await WriteTextAsync(response, 404, """{"error": "Revision Not Found"}""");
                return;
            }
            var json = JsonSerializer.Serialize(new
            {
                id = repo.RepoId,
                sha = repo.Commit,
                siblings = repo.Files.Keys.Select(file => new { rfilename = file }),
            });
            await WriteTextAsync(response, 200, json);
            return;
        }

        // /{org}/{name}/resolve/{rev}/{path}
        if (segments.Length >= 5 && segments[2] == "resolve" && _repos.TryGetValue($"{segments[0]}/{segments[1]}", out var fileRepo)
            && (segments[3] == fileRepo.Commit || segments[3] == "main"))
        {
            var filePath = string.Join('/', segments[4..]);
            if (!fileRepo.Files.TryGetValue(filePath, out var content))
            {
                await WriteTextAsync(response, 404, """{"error": "Entry not found"}""");
                return;
            }
            response.Headers["X-Repo-Commit"] = fileRepo.Commit;
            if (FakeFluxRepo.IsLfs(filePath))
            {
                var sha = FakeFluxRepo.BlobId(filePath, content);
                response.StatusCode = 302;
                response.Headers["Location"] = new Uri(CdnEndpoint, $"repos/ab/cd/{sha}?signature=xyz").ToString();
                response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
                response.Headers["X-Linked-Size"] = content.Length.ToString();
                response.Headers["ETag"] = "W/\"redirect-etag\"";
                response.ContentLength64 = 0;
                response.Close();
                return;
            }
            response.Headers["ETag"] = $"\"{FakeFluxRepo.BlobId(filePath, content)}\"";
            await ServeBytesAsync(context, filePath, content);
            return;
        }
        await WriteTextAsync(response, 404, """{"error": "Not found"}""");
    }

    private async Task HandleCdnAsync(HttpListenerContext context)
    {
        var sha = context.Request.Url!.AbsolutePath.Split('/')[^1];
        if (!_blobsBySha.TryGetValue(sha, out var blob))
        {
            await WriteTextAsync(context.Response, 404, "no such blob");
            return;
        }
        // A CDN's own ETag is not the Hub's blob id: the client must take the id from the redirect.
        context.Response.Headers["ETag"] = "\"cdn-etag-0001\"";
        await ServeBytesAsync(context, blob.Path, blob.Content);
    }

    private string? FileOf(string server, string absolutePath)
    {
        var segments = Uri.UnescapeDataString(absolutePath).TrimStart('/').Split('/');
        if (server == "cdn") return _blobsBySha.TryGetValue(segments[^1], out var blob) ? blob.Path : null;
        return segments.Length >= 5 && segments[2] == "resolve" ? string.Join('/', segments[4..]) : null;
    }

    private async Task ServeBytesAsync(HttpListenerContext context, string filePath, byte[] content)
    {
        var request = context.Request;
        var response = context.Response;
        if (Corrupt.Contains(filePath))
        {
            content = (byte[])content.Clone();
            content[content.Length / 3] ^= 0xFF;
        }
        long start = 0;
        if (request.Headers["Range"] is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1]);
            if (start >= content.Length)
            {
                response.StatusCode = 416;
                response.Headers["Content-Range"] = $"bytes */{content.Length}";
                response.ContentLength64 = 0;
                response.Close();
                return;
            }
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        response.ContentLength64 = content.Length - start;
        if (request.HttpMethod == "HEAD")
        {
            response.Close();
            return;
        }

        var count = _getCounts.AddOrUpdate(filePath, 1, (_, n) => n + 1);
        var half = (int)(content.Length - start) / 2;
        if ((DropMidwayOnce.Contains(filePath) && count == 1) || AlwaysDrop.Contains(filePath))
        {
            await response.OutputStream.WriteAsync(content.AsMemory((int)start, half));
            await response.OutputStream.FlushAsync();
            response.Abort();
            return;
        }
        if (StallMidwayOnce.Contains(filePath) && count == 1)
        {
            await response.OutputStream.WriteAsync(content.AsMemory((int)start, half));
            await response.OutputStream.FlushAsync();
            await ReleaseStalled.WaitAsync(TimeSpan.FromSeconds(30));
            response.Abort();
            return;
        }
        await response.OutputStream.WriteAsync(content.AsMemory((int)start));
        response.Close();
    }

    private static async Task WriteTextAsync(HttpListenerResponse response, int status, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }
}
