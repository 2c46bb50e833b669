using FluxStudio.Engine.Models;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Engine.Tests.Models;

public sealed class HubDownloaderTests : IDisposable
{
    private const string Commit = "741f7c3ce8b383c54771c7003378a50191e9efe9";
    private const string Shard = "transformer/diffusion_pytorch_model-00001-of-00002.safetensors";
    private readonly string _cache = Directory.CreateTempSubdirectory("fluxstudio-hub-").FullName;
    private readonly FakeFluxRepo _schnell = new("black-forest-labs/FLUX.1-schnell", Commit);
    private readonly FakeHub _hub;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false });

    public HubDownloaderTests() => _hub = new FakeHub(_schnell, new FakeFluxRepo("black-forest-labs/FLUX.1-dev", Commit, seed: 2));

    public void Dispose()
    {
        _http.Dispose();
        _hub.Dispose();
        Directory.Delete(_cache, recursive: true);
    }

    private HubSettings Settings(string? token = null, int maxAttempts = 3) => new()
    {
        CacheDirectory = _cache,
        CacheDirectorySource = "the test",
        Endpoint = _hub.Endpoint,
        Token = token,
        TokenSource = token is null ? null : "HF_TOKEN",
        MaxAttempts = maxAttempts,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(20),
    };

    private HubDownloader Downloader(string? token = null, int maxAttempts = 3) => new(_http, Settings(token, maxAttempts));

    private string RepoFolder => Path.Combine(_cache, "models--black-forest-labs--FLUX.1-schnell");

    [Fact]
    public async Task DownloadsThePipelineFilesIntoTheHuggingFaceCacheLayout()
    {
        var reports = new List<DownloadProgress>();
        var snapshot = await Downloader().DownloadAsync(
            "black-forest-labs/FLUX.1-schnell", "main", new SynchronousProgress<DownloadProgress>(reports.Add), CancellationToken.None);

        Assert.Equal(Path.Combine(RepoFolder, "snapshots", Commit), snapshot);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
        var expected = _schnell.PipelineFiles.ToList();
        var written = Directory.EnumerateFileSystemEntries(snapshot, "*", SearchOption.AllDirectories)
            .Where(p => !Directory.Exists(p)).Select(p => Path.GetRelativePath(snapshot, p).Replace('\\', '/')).Order(StringComparer.Ordinal);
        Assert.Equal(expected, written);
        foreach (var file in expected)
        {
            var pointer = Path.Combine(snapshot, file);
            var blobId = FakeFluxRepo.BlobId(file, _schnell.Files[file]);
            // A relative link to blobs/{etag}, as huggingface_hub makes it; large files are named by the linked ETag.
            Assert.Equal(Path.GetRelativePath(Path.GetDirectoryName(pointer)!, Path.Combine(RepoFolder, "blobs", blobId)), new FileInfo(pointer).LinkTarget);
            Assert.Equal(_schnell.Files[file], await File.ReadAllBytesAsync(pointer));
        }
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(RepoFolder, "blobs"), "*.incomplete"));

        // Never the root single files, never pickles, never git files.
        string[] skipped = ["flux1-schnell.safetensors", "ae.safetensors", "text_encoder/pytorch_model.bin", ".gitattributes", "README.md"];
        Assert.All(skipped, file => Assert.DoesNotContain(_hub.Requests, r => r.File == file));
        Assert.All(_hub.Requests.Where(r => r.Server == "cdn"), r => Assert.Null(r.Authorization));

        var total = expected.Sum(f => (long)_schnell.Files[f].Length);
        Assert.All(reports, r => Assert.Equal(total, r.BytesTotal));
        Assert.Equal(total, reports[^1].BytesDone);
        Assert.Equal(expected.Count, reports[^1].FileNumber);
        Assert.Equal(expected, reports.Select(r => r.CurrentFile).Distinct());
        Assert.True(reports.Zip(reports.Skip(1)).All(pair => pair.First.BytesDone <= pair.Second.BytesDone));

        // The located model is the downloaded snapshot.
        var location = new ModelLocator(Settings()).Locate(null, "schnell");
        Assert.Equal(Path.Combine(snapshot, "transformer"), location.TransformerPath);
    }

    [Fact]
    public async Task ASecondRunDownloadsNothingAndReusesBlobsOfOtherSnapshots()
    {
        await Downloader().DownloadAsync("schnell", "main", null, CancellationToken.None);
        var before = _hub.Requests.Count(r => r.Method == "GET" && r.File is not null);
        await Downloader().DownloadAsync("schnell", "main", null, CancellationToken.None);
        Assert.Equal(before, _hub.Requests.Count(r => r.Method == "GET" && r.File is not null));

        // A snapshot written by another tool at a different commit shares its blobs: the new one only links them.
        Directory.Delete(Path.Combine(RepoFolder, "snapshots"), recursive: true);
        await Downloader().DownloadAsync("schnell", Commit, null, CancellationToken.None);
        Assert.Equal(before, _hub.Requests.Count(r => r.Method == "GET" && r.File is not null));
        Assert.Equal(_schnell.Files[Shard], await File.ReadAllBytesAsync(Path.Combine(RepoFolder, "snapshots", Commit, Shard)));
    }

    [Fact]
    public async Task ResumesWithARangeRequestAfterTheServerDropsTheConnectionMidway()
    {
        _hub.DropMidwayOnce.Add(Shard);
        _hub.DropMidwayOnce.Add("text_encoder/config.json");

        var snapshot = await Downloader().DownloadAsync("schnell", "main", null, CancellationToken.None);

        Assert.Equal(_schnell.Files[Shard], await File.ReadAllBytesAsync(Path.Combine(snapshot, Shard)));
        Assert.Equal(_schnell.Files["text_encoder/config.json"], await File.ReadAllBytesAsync(Path.Combine(snapshot, "text_encoder/config.json")));
        foreach (var file in new[] { Shard, "text_encoder/config.json" })
        {
            var ranges = _hub.FileGets(file).Where(r => r.Server == "cdn" || !FakeFluxRepo.IsLfs(file)).Select(r => r.Range).ToList();
            Assert.Equal(2, ranges.Count);
            Assert.Null(ranges[0]);
            Assert.NotNull(ranges[1]);
            var offset = long.Parse(ranges[1]!["bytes=".Length..^1]);
            Assert.InRange(offset, 1, _schnell.Files[file].Length / 2);
        }
    }

    [Fact]
    public async Task AConnectionThatStallsCountsAsDroppedAndIsResumed()
    {
        _hub.StallMidwayOnce.Add("vae/diffusion_pytorch_model.safetensors");
        // Long enough that a busy machine's slow answers are not mistaken for stalls.
        var downloader = new HubDownloader(_http, Settings(maxAttempts: 5) with { StallTimeout = TimeSpan.FromSeconds(1) });

        var snapshot = await downloader.DownloadAsync("schnell", "main", null, CancellationToken.None);

        Assert.Equal(_schnell.Files["vae/diffusion_pytorch_model.safetensors"],
            await File.ReadAllBytesAsync(Path.Combine(snapshot, "vae/diffusion_pytorch_model.safetensors")));
        var ranges = _hub.FileGets("vae/diffusion_pytorch_model.safetensors").Where(r => r.Server == "cdn").Select(r => r.Range).ToList();
        Assert.Null(ranges[0]);
        Assert.Contains("bytes=3000-", ranges.Skip(1));
    }

    [Fact]
    public async Task GivesUpAfterBoundedRetriesAndKeepsThePartialFile()
    {
        _hub.AlwaysDrop.Add("vae/diffusion_pytorch_model.safetensors");

        var error = await Assert.ThrowsAsync<HubDownloadException>(() => Downloader(maxAttempts: 3).DownloadAsync("schnell", "main", null, CancellationToken.None));

        Assert.Contains("vae/diffusion_pytorch_model.safetensors", error.Message);
        Assert.Contains("run the download again to resume", error.Message);
        // Each attempt gets half of what is left, so every attempt makes progress until no whole byte is left to halve.
        var gets = _hub.FileGets("vae/diffusion_pytorch_model.safetensors").Count(r => r.Server == "cdn");
        Assert.InRange(gets, 3, 40);
        var incomplete = Assert.Single(Directory.EnumerateFiles(Path.Combine(RepoFolder, "blobs"), "*.incomplete"));
        Assert.InRange(new FileInfo(incomplete).Length, 1, 5999);
    }

    [Fact]
    public async Task SendsTheTokenToTheHubOnEveryRequest()
    {
        _hub.RequiredToken = "hf_secret";

        var snapshot = await Downloader(token: "hf_secret").DownloadAsync("dev", "main", null, CancellationToken.None);

        Assert.True(Directory.Exists(Path.Combine(snapshot, "transformer")));
        var hubRequests = _hub.Requests.Where(r => r.Server == "hub").ToList();
        Assert.Contains(hubRequests, r => r.Path.StartsWith("/api/models/", StringComparison.Ordinal));
        Assert.Contains(hubRequests, r => r.Method == "HEAD");
        Assert.All(hubRequests, r => Assert.Equal("Bearer hf_secret", r.Authorization));
        // The CDN gets a signed address and no token.
        Assert.All(_hub.Requests.Where(r => r.Server == "cdn"), r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task Unauthorized401ExplainsGatedModelsAndHfToken()
    {
        _hub.RequiredToken = "hf_secret";

        var missing = await Assert.ThrowsAsync<HubAccessDeniedException>(() => Downloader().DownloadAsync("dev", "main", null, CancellationToken.None));
        Assert.Equal(401, missing.StatusCode);
        Assert.Contains("black-forest-labs/FLUX.1-dev", missing.Message);
        Assert.Contains("gated", missing.Message);
        Assert.Contains("licence", missing.Message);
        Assert.Contains("HF_TOKEN", missing.Message);
        Assert.Contains(new Uri(_hub.Endpoint, "black-forest-labs/FLUX.1-dev").ToString(), missing.Message);

        var wrong = await Assert.ThrowsAsync<HubAccessDeniedException>(() => Downloader(token: "hf_wrong").DownloadAsync("dev", "main", null, CancellationToken.None));
        Assert.Contains("was sent and refused", wrong.Message);
        Assert.DoesNotContain("hf_wrong", wrong.Message);
    }

    [Fact]
    public async Task CancellationLeavesAnIncompleteFileThatTheNextRunResumes()
    {
        _hub.StallMidwayOnce.Add(Shard);
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress<DownloadProgress>(p =>
        {
            if (p.CurrentFile == Shard && p.FileBytesDone > 0) cancellation.Cancel();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Downloader().DownloadAsync("schnell", "main", progress, cancellation.Token));
        _hub.ReleaseStalled.Release();

        var blobId = FakeFluxRepo.BlobId(Shard, _schnell.Files[Shard]);
        var incomplete = Path.Combine(RepoFolder, "blobs", blobId + ".incomplete");
        var kept = new FileInfo(incomplete).Length;
        Assert.InRange(kept, 1, _schnell.Files[Shard].Length - 1);
        Assert.False(File.Exists(Path.Combine(RepoFolder, "snapshots", Commit, Shard)));

        var snapshot = await Downloader().DownloadAsync("schnell", "main", null, CancellationToken.None);

        Assert.Equal(_schnell.Files[Shard], await File.ReadAllBytesAsync(Path.Combine(snapshot, Shard)));
        Assert.False(File.Exists(incomplete));
        Assert.Equal($"bytes={kept}-", _hub.FileGets(Shard).Last(r => r.Server == "cdn").Range);
    }

    [Fact]
    public async Task ACorruptedLargeFileIsDiscardedNotStored()
    {
        _hub.Corrupt.Add(Shard);

        var error = await Assert.ThrowsAsync<HubDownloadException>(() => Downloader().DownloadAsync("schnell", "main", null, CancellationToken.None));

        Assert.Contains("SHA-256", error.Message);
        var blobId = FakeFluxRepo.BlobId(Shard, _schnell.Files[Shard]);
        Assert.False(File.Exists(Path.Combine(RepoFolder, "blobs", blobId)));
        Assert.Equal(0, new FileInfo(Path.Combine(RepoFolder, "blobs", blobId + ".incomplete")).Length);
    }

    [Fact]
    public async Task OfflineModeDownloadsNothing()
    {
        var offline = new HubDownloader(_http, Settings() with { Offline = true, AllowDownload = false });

        var error = await Assert.ThrowsAsync<HubDownloadException>(() => offline.DownloadAsync("schnell", "main", null, CancellationToken.None));

        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public async Task AnUnknownRepositoryOrRevisionSaysSo()
    {
        var error = await Assert.ThrowsAsync<HubDownloadException>(() => Downloader().DownloadAsync("schnell", "no-such-branch", null, CancellationToken.None));
        Assert.Contains("no-such-branch", error.Message);
        Assert.Contains("404", error.Message);
    }

    [Fact]
    public async Task TheLocatorDownloadsAMissingModelThroughTheRegisteredServices()
    {
        var services = new ServiceCollection()
            .AddFluxModels(
                options =>
                {
                    options.CacheDirectory = _cache;
                    options.Endpoint = _hub.Endpoint.ToString();
                    options.RetryDelay = TimeSpan.FromMilliseconds(10);
                },
                environment: _ => null)
            .BuildServiceProvider();
        var locator = services.GetRequiredService<ModelLocator>();
        Assert.Throws<ModelNotFoundException>(() => locator.Locate(null, "schnell"));
        _hub.DropMidwayOnce.Add(Shard);

        var location = await locator.LocateAsync(null, "schnell", null, null, CancellationToken.None);

        Assert.Equal(Path.Combine(RepoFolder, "snapshots", Commit, "transformer"), location.TransformerPath);
        Assert.Equal(FluxVariant.Schnell, location.Variant);
        // The registered client leaves redirects to the downloader, so blobs get the Hub's names, not the CDN's.
        Assert.True(File.Exists(Path.Combine(RepoFolder, "blobs", FakeFluxRepo.BlobId(Shard, _schnell.Files[Shard]))));
        Assert.Contains(_hub.FileGets(Shard), r => r.Range is not null);
    }

    [Fact]
    public async Task ASingleFileTransformerOnlyDownloadsTheOtherParts()
    {
        var file = Path.Combine(_cache, "flux1-schnell.safetensors");
        await File.WriteAllBytesAsync(file, _schnell.Files["flux1-schnell.safetensors"]);
        var locator = new ModelLocator(Settings(), Downloader());

        var location = await locator.LocateAsync(file, "schnell", null, null, CancellationToken.None);

        Assert.Equal(file, location.TransformerPath);
        Assert.Equal(Path.Combine(RepoFolder, "snapshots", Commit, "vae"), location.VaePath);
        Assert.DoesNotContain(_hub.Requests, r => r.File?.StartsWith("transformer/", StringComparison.Ordinal) == true);
    }
}
