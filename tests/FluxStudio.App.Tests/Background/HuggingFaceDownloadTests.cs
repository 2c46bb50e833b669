using FluxStudio.Engine.Tests;
using System.Net;
using System.Security.Cryptography;
using FluxStudio.App.Background;
using FluxStudio.App.Tests.Background.TestModels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.Background;

/// <summary>Downloads from a hub played by a loopback HTTP server made in the test.</summary>
public sealed class HuggingFaceDownloadTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly TempFolder _folder = new();
    private readonly HttpListener _listener = new();
    private readonly byte[] _model = new TinyMattingModel { Height = 16, Width = 16 }.ToOnnxBytes();
    private readonly List<(string Path, string? Authorization)> _requests = [];
    private readonly Task _serving;

    /// <summary>What the hub answers for the file: the status of the first answer, and the SHA-256 it announces.</summary>
    private HttpStatusCode _status = HttpStatusCode.Found;
    private string _announcedSha256;

    public HuggingFaceDownloadTests()
    {
        _announcedSha256 = Convert.ToHexStringLower(SHA256.HashData(_model));
        Endpoint = $"http://127.0.0.1:{LoopbackPorts.Free()}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    private string Endpoint { get; }

    public void Dispose()
    {
        _listener.Close();
        _folder.Dispose();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException) { return; }
            var path = context.Request.Url!.AbsolutePath;
            lock (_requests) _requests.Add((path, context.Request.Headers["Authorization"]));
            var response = context.Response;
            if (path == "/briaai/RMBG-2.0/resolve/main/onnx/model.onnx")
            {
                // As the hub does for large files: commit and hash on a redirect to the storage host.
                response.StatusCode = (int)_status;
                response.Headers["X-Repo-Commit"] = Commit;
                response.Headers["X-Linked-Etag"] = $"\"{_announcedSha256}\"";
                if (_status == HttpStatusCode.Found) response.Headers["Location"] = "/storage/blob?signature=abc";
            }
            else if (path == "/storage/blob")
            {
                response.ContentLength64 = _model.Length;
                await response.OutputStream.WriteAsync(_model);
            }
            else
            {
                response.StatusCode = 404;
            }
            response.Close();
        }
    }

    private BackgroundRemover CreateRemover(bool allowDownload = true) =>
        new(Options.Create(new BackgroundRemovalOptions
        {
            HubCache = _folder.File("hub"),
            AllowDownload = allowDownload,
            HuggingFaceEndpoint = Endpoint,
            HuggingFaceToken = "hf_test_token",
        }), NullLogger<BackgroundRemover>.Instance);

    [Fact]
    public async Task TheModelIsDownloadedIntoTheHubCacheAndFoundThereNextTime()
    {
        using (var remover = CreateRemover())
        {
            var info = await remover.GetModelInfoAsync(CancellationToken.None);
            Assert.Equal(_folder.File($"hub/models--briaai--RMBG-2.0/snapshots/{Commit}/onnx/model.onnx"), info.Path);
            Assert.Equal(16, info.InputWidth);
        }
        Assert.Equal(_model, File.ReadAllBytes(_folder.File($"hub/models--briaai--RMBG-2.0/snapshots/{Commit}/onnx/model.onnx")));
        Assert.Equal(Commit, File.ReadAllText(_folder.File("hub/models--briaai--RMBG-2.0/refs/main")));
        Assert.Equal(("/briaai/RMBG-2.0/resolve/main/onnx/model.onnx", "Bearer hf_test_token"), _requests[0]);
        Assert.Equal("/storage/blob", _requests[1].Path);

        _listener.Stop();
        using var offline = CreateRemover();
        Assert.Equal(16, (await offline.GetModelInfoAsync(CancellationToken.None)).InputHeight);
    }

    [Fact]
    public async Task AGatedRepositoryWithoutAccessSaysHowToGetIt()
    {
        _status = HttpStatusCode.Unauthorized;
        using var remover = CreateRemover();

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("licence", error.Message);
        Assert.Contains("HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task ADamagedDownloadIsThrownAwayAndReported()
    {
        _announcedSha256 = new string('a', 64);
        using var remover = CreateRemover();

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Contains("damaged", error.Message);
        Assert.Empty(Directory.GetFiles(_folder.File("hub"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task NothingIsDownloadedUnlessAllowed()
    {
        using var remover = CreateRemover(allowDownload: false);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("--download", error.Message);
        Assert.Empty(_requests);
    }
}
