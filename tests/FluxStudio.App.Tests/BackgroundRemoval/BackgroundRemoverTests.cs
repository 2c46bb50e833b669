using FluxStudio.Engine.Tests;
using FluxStudio.Engine;
using FluxStudio.App.BackgroundRemoval;
using FluxStudio.App.Tests.BackgroundRemoval.TestModels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.BackgroundRemoval;

public sealed class BackgroundRemoverTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private BackgroundRemover CreateRemover(TinyMattingModel model, Action<BackgroundRemovalOptions>? configure = null) =>
        CreateRemover(model.WriteTo(_folder.Path, $"{Guid.NewGuid():N}.onnx"), configure);

    private static BackgroundRemover CreateRemover(string modelPath, Action<BackgroundRemovalOptions>? configure = null)
    {
        var options = new BackgroundRemovalOptions { ModelPath = modelPath };
        configure?.Invoke(options);
        return new BackgroundRemover(Options.Create(options), NullLogger<BackgroundRemover>.Instance);
    }

    private static async Task<BackgroundRemovalResult> RemoveAsync(BackgroundRemover remover, byte[] encoded) =>
        await remover.RemoveAsync(new MemoryStream(encoded), CancellationToken.None);

    /// <summary>Pixels that spread over the colour cube, so every weight of the model matters.</summary>
    private static TestImages.Pixels Varied(int width, int height, byte alpha = 255) =>
        TestImages.Rgba(width, height, (x, y) => ((byte)(x * 255 / (width - 1)), (byte)(y * 255 / (height - 1)), (byte)((x * 37 + y * 91) % 256), alpha));

    private static void AssertNear(double expected, int actual, int tolerance, string where) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{where}: expected {expected:0.##}, got {actual}");

    [Fact]
    public async Task TheMaskIsTheSigmoidOfTheLastOutputAndBecomesTheAlphaChannel()
    {
        var model = new TinyMattingModel { WithSideOutputFirst = true };
        using var remover = CreateRemover(model);
        var image = Varied(32, 32);

        var result = await RemoveAsync(remover, TestImages.EncodePng(image));

        var cutout = TestImages.DecodeRgba(result.Png);
        var mask = TestImages.DecodeGray(result.MaskPng);
        Assert.Equal((32, 32), (cutout.Width, cutout.Height));
        Assert.Equal((32, 32), (mask.Width, mask.Height));
        var distinctAlphas = new HashSet<byte>();
        for (var y = 0; y < 32; y++)
        for (var x = 0; x < 32; x++)
        {
            var source = image.At(x, y);
            var expected = 255 * model.Probability(source[0], source[1], source[2]);
            var pixel = cutout.At(x, y);
            Assert.Equal(source[..3].ToArray(), pixel[..3].ToArray());
            AssertNear(expected, pixel[3], 1, $"alpha at ({x}, {y})");
            AssertNear(expected, mask.At(x, y)[0], 1, $"mask at ({x}, {y})");
            distinctAlphas.Add(pixel[3]);
        }
        Assert.True(distinctAlphas.Count > 50, "the mask should follow the image, not be flat");
    }

    [Fact]
    public async Task AHalfPrecisionModelGetsFloat16InAndGivesFloat16Out()
    {
        var model = new TinyMattingModel { HalfPrecision = true, Height = 16, Width = 16 };
        using var remover = CreateRemover(model);
        var image = Varied(16, 16);

        var mask = TestImages.DecodeGray((await RemoveAsync(remover, TestImages.EncodePng(image))).MaskPng);

        Assert.Equal("mask_half", (await remover.GetModelInfoAsync(CancellationToken.None)).OutputName);
        for (var y = 0; y < 16; y++)
        for (var x = 0; x < 16; x++)
        {
            var source = image.At(x, y);
            // Float16 keeps about three decimal digits of the normalised input: a step more of tolerance.
            AssertNear(255 * model.Probability(source[0], source[1], source[2]), mask.At(x, y)[0], 2, $"mask at ({x}, {y})");
        }
    }

    [Fact]
    public async Task ANamedOutputIsUsedInsteadOfTheLast()
    {
        // The side output is the convolution with weights (-3, 4, -5) and the shared bias, before any sigmoid.
        var model = new TinyMattingModel { WithSideOutputFirst = true };
        var sideOutput = model with { Weights = [-3f, 4f, -5f], EndsInSigmoid = false };
        using var remover = CreateRemover(model, options => options.OutputName = "side");
        var image = Varied(32, 32);

        var mask = TestImages.DecodeGray((await RemoveAsync(remover, TestImages.EncodePng(image))).MaskPng);

        for (var y = 0; y < 32; y += 5)
        for (var x = 0; x < 32; x += 5)
        {
            var source = image.At(x, y);
            AssertNear(255 * sideOutput.Probability(source[0], source[1], source[2]), mask.At(x, y)[0], 1, $"mask at ({x}, {y})");
        }
    }

    [Fact]
    public async Task AnUnknownOutputNameListsTheOutputs()
    {
        using var remover = CreateRemover(new TinyMattingModel { WithSideOutputFirst = true }, options => options.OutputName = "alphas");

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.InvalidModel, error.Error);
        Assert.Contains("side, mask", error.Message);
    }

    [Fact]
    public async Task LogitsGetASigmoidAndTheInputSizeAndNameComeFromTheGraph()
    {
        var model = new TinyMattingModel { InputName = "input", Height = 24, Width = 40, EndsInSigmoid = false, Weights = [2f, 1f, -1.5f], Bias = -0.5f };
        using var remover = CreateRemover(model);

        var info = await remover.GetModelInfoAsync(CancellationToken.None);
        Assert.Equal(("input", 40, 24), (info.InputName, info.InputWidth, info.InputHeight));
        Assert.Equal("logits", info.OutputName);

        var image = Varied(40, 24);
        var result = await RemoveAsync(remover, TestImages.EncodePng(image));
        var mask = TestImages.DecodeGray(result.MaskPng);
        for (var y = 0; y < 24; y++)
        for (var x = 0; x < 40; x++)
        {
            var source = image.At(x, y);
            AssertNear(255 * model.Probability(source[0], source[1], source[2]), mask.At(x, y)[0], 1, $"mask at ({x}, {y})");
        }
    }

    [Fact]
    public async Task TheMaskIsResizedBackToTheImagesOwnSize()
    {
        // The image is neither the model's size nor its shape; smooth gradients survive the resize down and up
        // closely, so each pixel's alpha stays near what the model gives for that pixel's own colour.
        var model = new TinyMattingModel { Height = 24, Width = 40, Weights = [0.8f, -0.6f, 0f], Bias = 0.1f };
        using var remover = CreateRemover(model);
        var image = TestImages.Rgba(100, 45, (x, y) => ((byte)(x * 255 / 99), (byte)(y * 255 / 44), 128, 255));

        var result = await RemoveAsync(remover, TestImages.EncodePng(image));

        Assert.Equal((100, 45), (result.Width, result.Height));
        var cutout = TestImages.DecodeRgba(result.Png);
        Assert.Equal((100, 45), (cutout.Width, cutout.Height));
        for (var y = 0; y < 45; y++)
        for (var x = 0; x < 100; x++)
        {
            var source = image.At(x, y);
            AssertNear(255 * model.Probability(source[0], source[1], source[2]), cutout.At(x, y)[3], 4, $"alpha at ({x}, {y})");
        }
    }

    [Fact]
    public async Task ADynamicInputSizeMeansRmbgsOwn1024()
    {
        using var remover = CreateRemover(new TinyMattingModel { Height = null, Width = null, InputName = "x" });

        var info = await remover.GetModelInfoAsync(CancellationToken.None);
        var result = await RemoveAsync(remover, TestImages.EncodePng(Varied(30, 20)));

        Assert.Equal((1024, 1024), (info.InputWidth, info.InputHeight));
        Assert.Equal((30, 20), (TestImages.DecodeGray(result.MaskPng).Width, TestImages.DecodeGray(result.MaskPng).Height));
    }

    [Theory]
    [InlineData("png")]
    [InlineData("jpeg")]
    [InlineData("webp")]
    [InlineData("webp-lossy")]
    public async Task CommonFormatsAreRead(string format)
    {
        var model = new TinyMattingModel { Height = 20, Width = 30 };
        using var remover = CreateRemover(model);
        var image = Varied(30, 20);
        var encoded = format switch
        {
            "png" => TestImages.EncodePng(image),
            "jpeg" => TestImages.EncodeJpeg(image),
            "webp" => TestImages.EncodeWebp(image, lossless: true),
            _ => TestImages.EncodeWebp(image, lossless: false),
        };
        // What the file holds after lossy compression, read without the code under test.
        var stored = TestImages.DecodeRgba(encoded);

        var result = await RemoveAsync(remover, encoded);

        var cutout = TestImages.DecodeRgba(result.Png);
        Assert.Equal((30, 20), (cutout.Width, cutout.Height));
        for (var y = 0; y < 20; y++)
        for (var x = 0; x < 30; x++)
        {
            var source = stored.At(x, y);
            AssertNear(255 * model.Probability(source[0], source[1], source[2]), cutout.At(x, y)[3], 1, $"alpha at ({x}, {y})");
        }
    }

    [Fact]
    public async Task TheExifOrientationIsApplied()
    {
        // Stored 40×20, left half red and right half blue; orientation 6 displays it turned 90° clockwise,
        // so upright it is 20×40 with red on top and blue below.
        var stored = TestImages.Rgba(40, 20, (x, _) => x < 20 ? ((byte)230, (byte)20, (byte)20, (byte)255) : ((byte)20, (byte)20, (byte)230, (byte)255));
        var jpeg = TestImages.WithExifOrientation(TestImages.EncodeJpeg(stored), orientation: 6);
        var model = new TinyMattingModel { Height = 20, Width = 40 };
        using var remover = CreateRemover(model);

        var result = await RemoveAsync(remover, jpeg);

        var cutout = TestImages.DecodeRgba(result.Png);
        Assert.Equal((20, 40), (cutout.Width, cutout.Height));
        var top = cutout.At(10, 8);
        var bottom = cutout.At(10, 31);
        Assert.True(top[0] > 200 && top[2] < 60, $"top should be red, is ({top[0]}, {top[1]}, {top[2]})");
        Assert.True(bottom[2] > 200 && bottom[0] < 60, $"bottom should be blue, is ({bottom[0]}, {bottom[1]}, {bottom[2]})");
        AssertNear(255 * model.Probability(top[0], top[1], top[2]), top[3], 3, "alpha of the red half");
        AssertNear(255 * model.Probability(bottom[0], bottom[1], bottom[2]), bottom[3], 3, "alpha of the blue half");
    }

    [Fact]
    public async Task AGrayscaleImageIsProcessedAsGrayRgb()
    {
        var model = new TinyMattingModel { Height = 16, Width = 16 };
        using var remover = CreateRemover(model);
        var png = TestImages.EncodeGrayPng(16, 16, (x, y) => (byte)(x * 16 + y));

        var result = await RemoveAsync(remover, png);

        var cutout = TestImages.DecodeRgba(result.Png);
        for (var y = 0; y < 16; y++)
        for (var x = 0; x < 16; x++)
        {
            var gray = (byte)(x * 16 + y);
            var pixel = cutout.At(x, y);
            Assert.Equal(new[] { gray, gray, gray }, pixel[..3].ToArray());
            AssertNear(255 * model.Probability(gray, gray, gray), pixel[3], 1, $"alpha at ({x}, {y})");
        }
    }

    [Fact]
    public async Task AnAlreadyTransparentImageKeepsItsTransparencyAndTheModelSeesItOverWhite()
    {
        var model = new TinyMattingModel { Height = 8, Width = 8 };
        using var remover = CreateRemover(model);
        // Left half fully transparent (its stored colour is black, which must not reach the model),
        // right half half-transparent dark green.
        var image = TestImages.Rgba(8, 8, (x, _) => x < 4 ? ((byte)0, (byte)0, (byte)0, (byte)0) : ((byte)10, (byte)120, (byte)30, (byte)128));

        var result = await RemoveAsync(remover, TestImages.EncodePng(image));

        var cutout = TestImages.DecodeRgba(result.Png);
        var mask = TestImages.DecodeGray(result.MaskPng);
        AssertNear(255 * model.Probability(255, 255, 255), mask.At(1, 3)[0], 1, "mask of a transparent pixel (seen as white)");
        Assert.Equal(0, cutout.At(1, 3)[3]);

        var composited = new[] { 10, 120, 30 }.Select(c => (byte)Math.Round((c * 128 + 255 * 127) / 255.0)).ToArray();
        var probability = model.Probability(composited[0], composited[1], composited[2]);
        AssertNear(255 * probability, mask.At(6, 3)[0], 1, "mask of a half-transparent pixel");
        AssertNear(128 * probability, cutout.At(6, 3)[3], 1, "alpha multiplies with the image's own");
        Assert.Equal(new byte[] { 10, 120, 30 }, cutout.At(6, 3)[..3].ToArray());
    }

    [Fact]
    public async Task AnImageOverTheMegapixelLimitIsRefusedWithAClearMessage()
    {
        using var remover = CreateRemover(new TinyMattingModel(), options => options.MaxMegapixels = 0.001);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => RemoveAsync(remover, TestImages.EncodePng(Varied(50, 40))));

        Assert.Equal(BackgroundRemovalError.ImageTooLarge, error.Error);
        Assert.True(error.IsCallerError);
        Assert.Contains("50×40", error.Message);
        Assert.Contains("MaxMegapixels", error.Message);
    }

    [Fact]
    public async Task AnUploadOverTheByteLimitIsRefused()
    {
        using var remover = CreateRemover(new TinyMattingModel(), options => options.MaxInputBytes = 100);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => RemoveAsync(remover, TestImages.EncodePng(Varied(50, 40))));

        Assert.Equal(BackgroundRemovalError.ImageTooLarge, error.Error);
        Assert.Contains("MaxInputBytes", error.Message);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("empty")]
    public async Task ACorruptImageGivesAClearError(string kind)
    {
        using var remover = CreateRemover(new TinyMattingModel());
        var png = TestImages.EncodePng(Varied(64, 64));
        var bytes = kind switch
        {
            "garbage" => Enumerable.Range(0, 500).Select(i => (byte)(i * 7919 % 251)).ToArray(),
            "truncated" => png[..(png.Length / 2)],
            _ => [],
        };

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => RemoveAsync(remover, bytes));

        Assert.Equal(BackgroundRemovalError.InvalidImage, error.Error);
        Assert.True(error.IsCallerError);
        Assert.Matches("(not an image|could not be decoded|empty)", error.Message);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    public async Task ACorruptModelFileGivesAClearError(string kind)
    {
        var path = _folder.File("broken.onnx");
        var valid = new TinyMattingModel().ToOnnxBytes();
        File.WriteAllBytes(path, kind == "garbage" ? "this is not a model"u8.ToArray() : valid[..(valid.Length - 20)]);
        using var remover = CreateRemover(path);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => RemoveAsync(remover, TestImages.EncodePng(Varied(8, 8))));

        Assert.Equal(BackgroundRemovalError.InvalidModel, error.Error);
        Assert.False(error.IsCallerError);
        Assert.Contains(path, error.Message);
        Assert.Contains("download it again", error.Message);
    }

    [Fact]
    public async Task AModelThatIsNotAnImageModelIsRejectedWithWhatItExpects()
    {
        var path = new TinyMattingModel { InputChannels = 1, Weights = [1f] }.WriteTo(_folder.Path);
        using var remover = CreateRemover(path);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.InvalidModel, error.Error);
        Assert.Contains("[1, 1, 32, 32]", error.Message);
        Assert.Contains("[1, 3, H, W]", error.Message);
    }

    [Fact]
    public async Task TheModelIsLoadedOnceAndSharedByConcurrentCalls()
    {
        var model = new TinyMattingModel();
        using var remover = CreateRemover(model);
        var image = Varied(32, 32);

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => RemoveAsync(remover, TestImages.EncodePng(image)))));
        var first = await remover.GetModelInfoAsync(CancellationToken.None);
        File.Delete(first.Path);   // a second load would now fail
        var second = await remover.GetModelInfoAsync(CancellationToken.None);

        Assert.Same(first, second);
        Assert.All(results, result => Assert.Equal(results[0].MaskPng, result.MaskPng));
        await RemoveAsync(remover, TestImages.EncodePng(image));
    }

    [Fact]
    public async Task AFailedLoadIsNotRemembered()
    {
        var path = _folder.File("later.onnx");
        using var remover = CreateRemover(path);

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));
        Assert.Equal(BackgroundRemovalError.ModelNotFound, error.Error);

        new TinyMattingModel().WriteTo(_folder.Path, "later.onnx");
        Assert.Equal(32, (await remover.GetModelInfoAsync(CancellationToken.None)).InputWidth);
    }

    [Fact]
    public async Task ProgressReportsEachStepInOrder()
    {
        using var remover = CreateRemover(new TinyMattingModel());
        var reports = new List<BackgroundRemovalProgress>();

        await remover.RemoveAsync(new MemoryStream(TestImages.EncodePng(Varied(8, 8))), new SynchronousProgress<BackgroundRemovalProgress>(reports.Add), CancellationToken.None);

        Assert.Equal(
            [BackgroundRemovalStage.ReadingImage, BackgroundRemovalStage.LoadingModel, BackgroundRemovalStage.RunningModel, BackgroundRemovalStage.Encoding],
            reports.Select(report => report.Stage));
        Assert.Equal([1, 2, 3, 4], reports.Select(report => report.Step));
        Assert.All(reports, report => Assert.Equal(4, report.StepCount));
    }

    [Fact]
    public async Task ACancelledRequestStops()
    {
        using var remover = CreateRemover(new TinyMattingModel());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => remover.RemoveAsync(new MemoryStream(TestImages.EncodePng(Varied(8, 8))), cancelled.Token));
    }

    [Fact]
    public async Task ACudaRequestWithoutCudaSaysSo()
    {
        using var remover = CreateRemover(new TinyMattingModel(), options => options.ExecutionProvider = ExecutionProviderPreference.Cuda);
        if (Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider")) return;

        var error = await Assert.ThrowsAsync<BackgroundRemovalException>(() => remover.GetModelInfoAsync(CancellationToken.None));

        Assert.Equal(BackgroundRemovalError.ExecutionProviderUnavailable, error.Error);
        Assert.Contains("CPUExecutionProvider", error.Message);
    }
}
