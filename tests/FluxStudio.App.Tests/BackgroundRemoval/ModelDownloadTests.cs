using FluxStudio.App.BackgroundRemoval;
using FluxStudio.App.Tests.BackgroundRemoval.TestModels;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Tests;
using FluxStudio.Engine.Tests.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.BackgroundRemoval;

/// <summary>
/// The background-removal model comes through the studio's one Hub client into the one Hugging Face cache, from a
/// Hub played by the Engine tests' loopback fake (the model info API, a redirect to a CDN for large files, ranges).
/// </summary>
public sealed class ModelDownloadTests : IDisposable
{
    private const string Repository = "briaai/RMBG-2.0";
    private const string ModelFile = "onnx/model.onnx";
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly TempFolder _folder = new();
    private readonly byte[] _model = new TinyMattingModel { Height = 16, Width = 16 }.ToOnnxBytes();
    private readonly FakeHub _hub;

    public ModelDownloadTests()
    {
        var repo = new FakeFluxRepo(Repository, Commit);
        repo.Files[ModelFile] = _model;
        _hub = new FakeHub(repo);
    }

    public void Dispose()
    {
        _hub.Dispose();
        _folder.Dispose();
    }

    private string Cache => _folder.File("hub");

    private BackgroundRemover CreateRemover(bool allowDownload = true, string? offline = null, string? token = "hf_test_token")
    {
        var settings = HubSettings.Resolve(
            new ModelHubOptions { CacheDirectory = Cache, Endpoint = _hub.Endpoint.ToString(), Token = token, RetryDelay = TimeSpan.Zero },
            name => name == "HF_HUB_OFFLINE" ? offline : null);
        var downloader = new HubDownloader(new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }), settings);
        return new BackgroundRemover(Options.Create(new BackgroundRemovalOptions { AllowDownload = allowDownload }),
            NullLogger<BackgroundRemover>.Instance, settings, downloader);
    }

    [Fact]
    public async Task TheModelIsDownloadedIntoTheHubCacheLayoutAndFoundThereNextTime()
    {
        using (var remover = CreateRemover())
        {
            var info = await remover.GetModelInfoAsync(CancellationToken.None);
            Assert.Equal(Path.Combine(Cache, "models--briaai--RMBG-2.0", "snapshots", Commit, "onnx", "model.onnx"), info.Path);
            Assert.Equal(16, info.InputWidth);
        }
        Assert.Equal(_model, File.ReadAllBytes(Path.Combine(Cache, "models--briaai--RMBG-2.0", "snapshots", Commit, "onnx", "model.onnx")));
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(Cache, "models--briaai--RMBG-2.0", "refs", "main")));
        // One blob named by its SHA-256, linked from the snapshot, as huggingface_hub stores it.
        Assert.Single(Directory.GetFiles(Path.Combine(Cache, "models--briaai--RMBG-2.0", "blobs")));
        Assert.All(_hub.Requests.Where(r => r.Server == "hub"), r => Assert.Equal("Bearer hf_test_token", r.Authorization));
        Assert.All(_hub.Requests.Where(r => r.Server == "cdn"), r => Assert.Null(r.Authorization));
        Assert.DoesNotContain(_hub.Requests, r => r.File is { } file && file != ModelFile);

        _hub.Dispose();
        using var offline = CreateRemover();
        Assert.Equal(16, (await offline.GetModelInfoAsync(CancellationToken.None)).InputHeight);
    }

    [Fact]
    public async Task AGatedRepositoryWithoutAccessSaysHowToGetIt()
    {
        _hub.RequiredToken = "hf_test_token";
        using var remover = CreateRemover(token: null);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("licence", error.Message);
        Assert.Contains("HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task ADamagedDownloadIsNotUsedAndIsReported()
    {
        _hub.Corrupt.Add(ModelFile);
        using var remover = CreateRemover();

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Contains("corrupted", error.Message);
        Assert.False(Directory.Exists(Path.Combine(Cache, "models--briaai--RMBG-2.0", "snapshots")));
    }

    [Fact]
    public async Task NothingIsDownloadedUnlessAllowed()
    {
        using var remover = CreateRemover(allowDownload: false);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("--download", error.Message);
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public async Task HfHubOfflineForbidsTheDownloadAsForEveryModel()
    {
        using var remover = CreateRemover(offline: "1");

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Empty(_hub.Requests);
    }
}
