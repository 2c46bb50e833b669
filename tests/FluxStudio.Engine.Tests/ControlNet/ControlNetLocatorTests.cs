using System.Text;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Tests.Models;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>Finding a ControlNet folder, in the Hugging Face cache or by download from a loopback Hub.</summary>
public sealed class ControlNetLocatorTests : IDisposable
{
    private const string Commit = "3b1e4a0c2d5f6e7a8b9c0d1e2f3a4b5c6d7e8f90";
    private readonly TempFolder _cache = new();
    private readonly FakeFluxRepo _repo = new(ControlNetLocator.Canny.RepoId, Commit);
    private readonly FakeHub _hub;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false });

    public ControlNetLocatorTests()
    {
        // The repository as InstantX publishes it: the model at the top level, with a model card and sample images.
        _repo.Files.Clear();
        foreach (var file in Directory.GetFiles(ControlNetTiny.ControlNetFolder))
            _repo.Files[Path.GetFileName(file)] = File.ReadAllBytes(file);
        _repo.Files["README.md"] = Encoding.UTF8.GetBytes("# FLUX.1-dev ControlNet Canny\n");
        _repo.Files["canny.jpg"] = [0xFF, 0xD8, 0xFF, 0xD9];
        _repo.Files[".gitattributes"] = Encoding.UTF8.GetBytes("*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
        _hub = new FakeHub(_repo);
    }

    public void Dispose()
    {
        _http.Dispose();
        _hub.Dispose();
        _cache.Dispose();
    }

    private HubSettings Settings(bool offline = false) => new()
    {
        CacheDirectory = _cache.Path,
        CacheDirectorySource = "the test",
        Endpoint = _hub.Endpoint,
        Offline = offline,
        AllowDownload = !offline,
        RetryDelay = TimeSpan.FromMilliseconds(10),
    };

    private ControlNetLocator Locator(bool offline = false) => new(Settings(offline), new HubDownloader(_http, Settings(offline)));

    [Fact]
    public async Task InstantXsCannyIsDownloadedIntoTheCacheOnceAndThenFoundThere()
    {
        var folder = await Locator().LocateAsync(null, progress: null, CancellationToken.None);

        var modelFiles = Directory.GetFiles(ControlNetTiny.ControlNetFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(modelFiles, Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.StartsWith(Path.Combine(_cache.Path, ControlNetLocator.Canny.CacheFolderName, "snapshots", Commit), folder);
        using (var controlNet = FluxControlNet.Load(folder))
            Assert.Equal(ControlNetTiny.Manifest.GetProperty("controlnet_param_count").GetInt64(), controlNet.parameters().Sum(p => p.NumberOfElements));

        int gets = _hub.Requests.Count(request => request.Method == "GET");
        Assert.Equal(folder, await Locator().LocateAsync(null, progress: null, CancellationToken.None));
        Assert.Equal(gets, _hub.Requests.Count(request => request.Method == "GET"));
    }

    [Fact]
    public void AFolderNamedByTheUserIsTakenAsItIs()
    {
        Assert.Equal(Path.GetFullPath(ControlNetTiny.ControlNetFolder), Locator().Locate(ControlNetTiny.ControlNetFolder));
    }

    [Fact]
    public void ACacheFolderNamedByTheUserGivesItsSnapshot()
    {
        var snapshot = _repo.WriteToCache(_cache.Path, only: Directory.GetFiles(ControlNetTiny.ControlNetFolder).Select(Path.GetFileName)!);
        Assert.Equal(snapshot, Locator(offline: true).Locate(Path.GetDirectoryName(Path.GetDirectoryName(snapshot))));
    }

    [Fact]
    public async Task WhatIsMissingIsSaidWithWhereItLooked()
    {
        var offline = await Assert.ThrowsAsync<ModelNotFoundException>(() => Locator(offline: true).LocateAsync(null, null, CancellationToken.None));
        Assert.Contains(ControlNetLocator.Canny.RepoId, offline.Message);
        Assert.Contains("HF_HUB_OFFLINE", offline.Message);
        Assert.Empty(_hub.Requests);

        var empty = Directory.CreateDirectory(Path.Combine(_cache.Path, "empty")).FullName;
        var named = await Assert.ThrowsAsync<ModelNotFoundException>(() => Locator().LocateAsync(empty, null, CancellationToken.None));
        Assert.Contains("no config.json", named.Message);
        Assert.Empty(_hub.Requests);
    }
}
