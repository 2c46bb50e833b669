using FluxStudio.Engine.Tests;
using FluxStudio.App.Tests.BackgroundRemoval;
using FluxStudio.App.Tests.BackgroundRemoval.TestModels;

namespace FluxStudio.Cli.Tests;

public sealed class RemoveBackgroundCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly TinyMattingModel _model = new() { Height = 16, Width = 16, EndsInSigmoid = false };

    public void Dispose() => _folder.Dispose();

    private string WriteImage(string name = "photo.png")
    {
        var image = TestImages.Rgba(24, 16, (x, y) => ((byte)(x * 10), (byte)(y * 15), 90, 255));
        var path = _folder.File(name);
        File.WriteAllBytes(path, TestImages.EncodePng(image));
        return path;
    }

    private static void AssertNoStackTrace(CliProcess.Result result) => Assert.DoesNotContain("   at ", result.StandardError + result.StandardOutput);

    [Fact]
    public async Task WritesTheCutOutAndTheMask()
    {
        var modelFolder = _folder.File("rmbg");
        _model.WriteTo(Path.Combine(modelFolder, "onnx"));
        var input = WriteImage();

        var result = await CliProcess.RunAsync("remove-bg", input, _folder.File("out/cutout.png"), "--model", modelFolder, "--mask", _folder.File("mask.png"));

        Assert.True(result.ExitCode == 0, result.StandardError);
        var cutout = TestImages.DecodeRgba(File.ReadAllBytes(_folder.File("out/cutout.png")));
        var mask = TestImages.DecodeGray(File.ReadAllBytes(_folder.File("mask.png")));
        Assert.Equal((24, 16), (cutout.Width, cutout.Height));
        Assert.Equal((24, 16), (mask.Width, mask.Height));
        // The two ends of the gradient: the model's logits differ in sign there, so the alphas do too.
        foreach (var (x, y) in new[] { (1, 1), (22, 14) })
        {
            var pixel = cutout.At(x, y);
            var expected = 255 * _model.Probability(pixel[0], pixel[1], pixel[2]);
            Assert.True(Math.Abs(expected - pixel[3]) <= 4, $"alpha at ({x}, {y}): expected {expected:0.#}, got {pixel[3]}");
            Assert.Equal(pixel[3], mask.At(x, y)[0]);
        }
        Assert.Contains("cutout.png", result.StandardOutput);
        Assert.Empty(Directory.GetFiles(_folder.File("out"), "*.tmp"));
    }

    [Fact]
    public async Task AMissingModelSaysWhatToDo()
    {
        var result = await CliProcess.RunAsync("remove-bg", WriteImage(), _folder.File("out.png"), "--model", _folder.File("no-such-model.onnx"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not exist", result.StandardError);
        AssertNoStackTrace(result);
        Assert.False(File.Exists(_folder.File("out.png")));
    }

    [Fact]
    public async Task ACorruptImageSaysSoAndWritesNothing()
    {
        var modelPath = _model.WriteTo(_folder.Path);
        var input = _folder.File("broken.jpg");
        File.WriteAllBytes(input, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4]);

        var result = await CliProcess.RunAsync("remove-bg", input, _folder.File("out.png"), "--model", modelPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error:", result.StandardError);
        Assert.Matches("(not an image|could not be decoded)", result.StandardError);
        AssertNoStackTrace(result);
        Assert.False(File.Exists(_folder.File("out.png")));
    }

    [Fact]
    public async Task AnExistingOutputIsKeptUnlessForced()
    {
        var modelPath = _model.WriteTo(_folder.Path);
        var input = WriteImage();
        var output = _folder.File("out.png");
        File.WriteAllText(output, "precious");

        var refused = await CliProcess.RunAsync("remove-bg", input, output, "--model", modelPath);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--force", refused.StandardError);
        Assert.Equal("precious", File.ReadAllText(output));

        var forced = await CliProcess.RunAsync("remove-bg", input, output, "--model", modelPath, "--force");
        Assert.True(forced.ExitCode == 0, forced.StandardError);
        var cutout = TestImages.DecodeRgba(File.ReadAllBytes(output));
        Assert.Equal((24, 16), (cutout.Width, cutout.Height));
    }

    [Fact]
    public async Task AnOutputThatCannotHoldTransparencyIsRefused()
    {
        var result = await CliProcess.RunAsync("remove-bg", WriteImage(), _folder.File("out.jpg"), "--model", _model.WriteTo(_folder.Path));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(".png", result.StandardError);
        Assert.False(File.Exists(_folder.File("out.jpg")));
    }
}
