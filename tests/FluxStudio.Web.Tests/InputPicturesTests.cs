using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Web.Components.Pages;
using FluxStudio.Web.Services;
using Microsoft.Extensions.DependencyInjection;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

/// <summary>
/// The C# side of the Generate tab's picture slots: uploads, a history image handed on to image to image or the
/// ControlNet, thumbnails, the live Canny preview, and the form fields that make the request.
/// </summary>
public sealed class InputPicturesTests : IDisposable
{
    private readonly StudioFactory _factory = new();
    private readonly InputPictures _pictures;
    private readonly CancellationToken _ct = CancellationToken.None;

    public InputPicturesTests() => _pictures = _factory.Services.GetRequiredService<InputPictures>();

    public void Dispose() => _factory.Dispose();

    private static RgbImage DataUrlImage(string dataUrl)
    {
        const string prefix = "data:image/png;base64,";
        Assert.StartsWith(prefix, dataUrl);
        return RgbImageFile.Decode(Convert.FromBase64String(dataUrl[prefix.Length..]));
    }

    [Fact]
    public async Task AnUploadIsKeptUnderANameTheServerMakes()
    {
        var bytes = GenerationInputsApiTests.Picture(300, 150);
        var upload = await _pictures.UploadAsync(new MemoryStream(bytes), _ct);

        Assert.Null(upload.Error);
        var image = upload.Image!;
        Assert.Equal((300, 150), (image.Width, image.Height));
        Assert.Equal(Path.Combine(_factory.DataRoot, "uploads", image.Hash + ".png"), image.Path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(image.Path));
        Assert.Equal(image, _pictures.Find(image.Path));
        Assert.Null(_pictures.Find(Path.Combine(_factory.DataRoot, "elsewhere.png")));

        var thumbnail = DataUrlImage(_pictures.ThumbnailDataUrl(image)!);
        Assert.Equal((InputPictures.ThumbnailSide, InputPictures.ThumbnailSide / 2), (thumbnail.Width, thumbnail.Height));
    }

    [Fact]
    public async Task WhatIsNotAPictureIsRefusedWithASentence()
    {
        var upload = await _pictures.UploadAsync(new MemoryStream("%PDF-1.7"u8.ToArray()), _ct);

        Assert.Null(upload.Image);
        Assert.Contains("PNG, JPEG or WebP", upload.Error);
        Assert.False(upload.TooLarge);
    }

    [Fact]
    public async Task TheCannyPreviewIsTheEdgeMapTheControlNetGetsAtTheChosenSize()
    {
        var bytes = GenerationInputsApiTests.Picture(96, 64);
        var image = (await _pictures.UploadAsync(new MemoryStream(bytes), _ct)).Image!;

        var (preview, error) = _pictures.ControlNetCannyPreview(image, 48, 32);

        Assert.Null(error);
        Assert.Equal(CannyControlImage.Prepare(RgbImageFile.Decode(bytes), 48, 32).Pixels, DataUrlImage(preview!).Pixels);
        Assert.Contains(DataUrlImage(preview!).Pixels, value => value == 255);
        Assert.Contains("4096", _pictures.ControlNetCannyPreview(image, 48, 9000).Error);
    }

    [Fact]
    public async Task AHistoryImageCanBeSentToImageToImageAndGeneratesAgain()
    {
        using var client = _factory.CreateClient();
        var first = await GenerateAsync(client, SmallRequest(seed: 9));
        var history = _factory.Services.GetRequiredService<HistoryStore>();

        var sent = (await _pictures.FromHistoryAsync(first.HistoryId!.Value, _ct))!;
        var entry = (await history.GetAsync(first.HistoryId!.Value, _ct))!;
        Assert.Equal(await File.ReadAllBytesAsync(entry.ImagePath), await File.ReadAllBytesAsync(sent.Path));
        Assert.Null(await _pictures.FromHistoryAsync(999_999, _ct));

        var form = new GenerateForm { Prompt = "a fox", Width = 48, Height = 32, Steps = 2, InitImage = sent, ImageStrength = 0.6 };
        var second = await WaitFinishedAsync(client, await QueueFormAsync(form));
        Assert.Equal("done", second.Status);
        var made = (await history.GetAsync(second.HistoryId!.Value, _ct))!;
        Assert.Equal((sent.Path, sent.Hash, 0.6), (made.InitImagePath, made.InitImageHash, made.ImageStrength));
    }

    [Fact]
    public void TheFormMakesTheRequestWithItsPicturesAndReadsOneBack()
    {
        var reference = new StoredImage("/data/uploads/abc.png", "abc", 48, 32);
        var start = new StoredImage("/data/uploads/def.png", "def", 48, 32);
        var form = new GenerateForm
        {
            Prompt = "a fox", BatchCount = 4, ControlNetImage = reference, ControlNetStrength = 0.8, ControlNetSaveCanny = true,
            ControlNetEncoding = "diffusers", InitImage = start, ImageStrength = 0.2,
        };

        var request = form.ToRequest();
        Assert.Equal((4, reference.Path, 0.8, true, ControlNetEncoding.Diffusers, start.Path, 0.2),
            (request.BatchCount, request.ControlNetImagePath, request.ControlNetStrength, request.ControlNetSaveCanny,
                request.ControlNetEncoding, request.InitImagePath, request.ImageStrength));

        var loaded = new GenerateForm();
        loaded.Load(request, reference, start);
        Assert.Equal(request, loaded.ToRequest());
        Assert.Null(new GenerateForm().ToRequest().ControlNetImagePath);
    }

    /// <summary>Queues what the form makes through the page's own submitter, returning the job id as the API would.</summary>
    private async Task<long> QueueFormAsync(GenerateForm form)
    {
        var result = await _factory.Services.GetRequiredService<GenerationSubmitter>().SubmitAsync(form.ToRequest(), null, _ct);
        Assert.Empty(result.Errors);
        return result.Job!.Id;
    }
}
