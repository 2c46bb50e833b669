using FluxStudio.Engine.Tests;
using FluxStudio.App.Background;

namespace FluxStudio.App.Tests.Background;

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

    [Fact]
    public void AFileIsUsedAsItIs()
    {
        var file = Touch("anything/birefnet.onnx");
        Assert.Equal(file, MattingModelLocator.Locate(file, Repository, Environment()));
    }

    [Theory]
    [InlineData("onnx/model.onnx")]
    [InlineData("model.onnx")]
    [InlineData("onnx/model_fp16.onnx")]
    public void AFolderIsSearchedForItsOnnxFile(string relativePath)
    {
        var file = Touch("rmbg/" + relativePath);
        Assert.Equal(file, MattingModelLocator.Locate(_folder.File("rmbg"), Repository, Environment()));
    }

    [Fact]
    public void AFolderWithSeveralCandidatesPrefersOnnxModelOnnx()
    {
        Touch("rmbg/onnx/model_fp16.onnx");
        Touch("rmbg/onnx/model_quantized.onnx");
        var file = Touch("rmbg/onnx/model.onnx");
        Assert.Equal(file, MattingModelLocator.Locate(_folder.File("rmbg"), Repository, Environment()));
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

        Assert.Equal(current, MattingModelLocator.Locate(null, Repository, Environment(("HF_HUB_CACHE", _folder.File("hub")))));
    }

    [Fact]
    public void HfHomeIsUsedWhenHfHubCacheIsUnset()
    {
        var file = Touch("home/hub/models--briaai--RMBG-2.0/snapshots/rev/onnx/model.onnx");
        Assert.Equal(file, MattingModelLocator.Locate(null, Repository, Environment(("HF_HOME", _folder.File("home")))));
    }

    [Fact]
    public void NoModelAnywhereSaysWhereToPutIt()
    {
        var error = Assert.Throws<BackgroundRemovalException>(() =>
            MattingModelLocator.Locate(null, Repository, Environment(("HF_HUB_CACHE", _folder.File("empty-hub")))));

        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);
        Assert.Contains("huggingface.co/briaai/RMBG-2.0", error.Message);
        Assert.Contains("--model", error.Message);
        Assert.Contains(Path.Combine(_folder.File("empty-hub"), "models--briaai--RMBG-2.0", "snapshots"), error.Message);
    }

    [Fact]
    public void AMissingPathOrAnEmptyFolderIsNamedInTheError()
    {
        Directory.CreateDirectory(_folder.File("empty"));

        var missing = Assert.Throws<BackgroundRemovalException>(() => MattingModelLocator.Locate(_folder.File("nope.onnx"), Repository, Environment()));
        var empty = Assert.Throws<BackgroundRemovalException>(() => MattingModelLocator.Locate(_folder.File("empty"), Repository, Environment()));

        Assert.Contains("does not exist", missing.Message);
        Assert.Contains(_folder.File("empty"), empty.Message);
    }
}
