using FluxStudio.Engine.Tests;
using FluxStudio.App.BackgroundRemoval;
using FluxStudio.Engine.Models;

namespace FluxStudio.App.Tests.BackgroundRemoval;

public sealed class MattingModelLocatorTests : IDisposable
{
    private const string Repository = "briaai/RMBG-2.0";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Touch(string relativePath)
    {
        var path = _folder.File(relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [1]);
        return path;
    }

    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(variable => variable.Name == name).Value;

    /// <summary>Finds the model with the Hub settings the studio would read from <paramref name="environment"/>.</summary>
    private static string Locate(string? modelPath, Func<string, string?> environment) =>
        MattingModelLocator.Locate(modelPath, Repository, "main", HubSettings.Resolve(new ModelHubOptions(), environment));

    [Fact]
    public void AFileIsUsedAsItIs()
    {
        var file = Touch("anything/birefnet.onnx");
        Assert.Equal(file, Locate(file, Environment()));
    }

    [Theory]
    [InlineData("onnx/model.onnx")]
    [InlineData("model.onnx")]
    [InlineData("onnx/model_fp16.onnx")]
    public void AFolderIsSearchedForItsOnnxFile(string relativePath)
    {
        var file = Touch("rmbg/" + relativePath);
        Assert.Equal(file, Locate(_folder.File("rmbg"), Environment()));
    }

    [Fact]
    public void AFolderWithSeveralCandidatesPrefersOnnxModelOnnx()
    {
        Touch("rmbg/onnx/model_fp16.onnx");
        Touch("rmbg/onnx/model_quantized.onnx");
        var file = Touch("rmbg/onnx/model.onnx");
        Assert.Equal(file, Locate(_folder.File("rmbg"), Environment()));
    }

    [Fact]
    public void TheHubCacheSnapshotNamedByRefsMainIsFound()
    {
        Touch("hub/models--briaai--RMBG-2.0/snapshots/old/onnx/model.onnx");
        var current = Touch("hub/models--briaai--RMBG-2.0/snapshots/abc123/onnx/model.onnx");
        Directory.CreateDirectory(_folder.File("hub/models--briaai--RMBG-2.0/refs"));
        File.WriteAllText(_folder.File("hub/models--briaai--RMBG-2.0/refs/main"), "abc123\n");
        // The older snapshot is written last, so only refs/main can pick the right one.
        Directory.SetLastWriteTimeUtc(_folder.File("hub/models--briaai--RMBG-2.0/snapshots/old"), DateTime.UtcNow.AddMinutes(1));

        Assert.Equal(current, Locate(null, Environment(("HF_HUB_CACHE", _folder.File("hub")))));
    }

    [Fact]
    public void HfHomeIsUsedWhenHfHubCacheIsUnset()
    {
        var file = Touch("home/hub/models--briaai--RMBG-2.0/snapshots/rev/onnx/model.onnx");
        Assert.Equal(file, Locate(null, Environment(("HF_HOME", _folder.File("home")))));
    }

    [Fact]
    public void XdgCacheHomeIsHonouredAsHuggingfaceHubDoes()
    {
        var file = Touch("xdg/huggingface/hub/models--briaai--RMBG-2.0/snapshots/rev/onnx/model.onnx");
        Assert.Equal(file, Locate(null, Environment(("XDG_CACHE_HOME", _folder.File("xdg")))));
    }

    [Fact]
    public void NoModelAnywhereSaysWhereToPutIt()
    {
        var error = Assert.Throws<BackgroundRemovalException>(() =>
            Locate(null, Environment(("HF_HUB_CACHE", _folder.File("empty-hub")))));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("huggingface.co/briaai/RMBG-2.0", error.Message);
        Assert.Contains("--model", error.Message);
        Assert.Contains(Path.Combine(_folder.File("empty-hub"), "models--briaai--RMBG-2.0", "snapshots"), error.Message);
    }

    [Fact]
    public void AMissingPathOrAnEmptyFolderIsNamedInTheError()
    {
        Directory.CreateDirectory(_folder.File("empty"));

        var missing = Assert.Throws<BackgroundRemovalException>(() => Locate(_folder.File("nope.onnx"), Environment()));
        var empty = Assert.Throws<BackgroundRemovalException>(() => Locate(_folder.File("empty"), Environment()));

        Assert.Contains("does not exist", missing.Message);
        Assert.Contains(_folder.File("empty"), empty.Message);
    }
}
