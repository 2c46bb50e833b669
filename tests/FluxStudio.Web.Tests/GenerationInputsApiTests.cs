using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FluxStudio.App.History;
using FluxStudio.App.Inputs;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Web.Api;
using Microsoft.Extensions.DependencyInjection;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

/// <summary>
/// <c>POST /api/generations</c> with pictures (multipart: the settings in <c>request</c>, the pictures in
/// <c>controlNetImage</c> and <c>image</c>) and with batches, and what history then serves.
/// </summary>
public sealed class GenerationInputsApiTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    /// <summary>A small picture with edges: a white square on black.</summary>
    internal static byte[] Picture(int width = 48, int height = 32, byte shade = 255)
    {
        var pixels = new byte[width * height * 3];
        for (var y = height / 4; y < 3 * height / 4; y++)
            Array.Fill(pixels, shade, (y * width + width / 4) * 3, width / 2 * 3);
        return PngEncoder.Encode(new RgbImage(width, height, pixels));
    }

    internal static MultipartFormDataContent Form(object settings, params (string Field, byte[] Bytes)[] pictures)
    {
        var form = new MultipartFormDataContent
        {
            { new StringContent(JsonSerializer.Serialize(settings, Json), Encoding.UTF8, "application/json"), GenerationApiBody.RequestField },
        };
        foreach (var (field, bytes) in pictures)
            form.Add(new ByteArrayContent(bytes), field, "picture.png");
        return form;
    }

    private async Task<HistoryEntry> EntryAsync(long id) =>
        (await _factory.Services.GetRequiredService<HistoryStore>().GetAsync(id, CancellationToken.None))!;

    [Fact]
    public async Task PicturesComeByUploadAndHistoryRecordsThemAndServesTheEdgeMap()
    {
        using var client = _factory.CreateClient();
        var reference = Picture();
        var start = Picture(shade: 200);
        var settings = new
        {
            prompt = "a fox", steps = 2, seed = 5, width = 48, height = 32, controlNetStrength = 0.7, controlNetEncoding = "diffusers",
            imageStrength = 0.25,
        };

        var response = await client.PostAsync("/api/generations",
            Form(settings, (GenerationApiBody.ControlNetImageField, reference), (GenerationApiBody.InitImageField, start)));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var status = await WaitFinishedAsync(client, (await response.Content.ReadFromJsonAsync<GenerationCreated>(Json))!.Id);
        Assert.Equal("done", status.Status);

        var entry = await EntryAsync(status.HistoryId!.Value);
        var uploads = _factory.Services.GetRequiredService<InputImageStore>();
        Assert.True(uploads.Contains(entry.ControlNetImagePath!));
        Assert.True(uploads.Contains(entry.InitImagePath!));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(reference)), entry.ControlNetImageHash);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(start)), entry.InitImageHash);
        Assert.Equal((0.7, "diffusers", 0.25), (entry.ControlNetStrength, entry.ControlNetEncoding, entry.ImageStrength));

        var item = (await client.GetFromJsonAsync<HistoryItemDetails>($"/api/history/{entry.Id}", Json))!;
        Assert.Equal($"/api/images/{entry.Id}/controlnet-canny", item.Item.ControlNetCannyUrl);
        Assert.Equal((0.7, "diffusers", 0.25), (item.Settings.ControlNetStrength, item.Settings.ControlNetEncoding, item.Settings.ImageStrength));
        var edges = await client.GetAsync(item.Item.ControlNetCannyUrl);
        Assert.Equal("image/png", edges.Content.Headers.ContentType?.MediaType);
        var edgeMap = RgbImageFile.Decode(await edges.Content.ReadAsByteArrayAsync());
        Assert.Equal((48, 32), (edgeMap.Width, edgeMap.Height));

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/images/{(await GenerateAsync(client, SmallRequest())).HistoryId}/controlnet-canny")).StatusCode);
    }

    [Fact]
    public async Task ABatchCountMakesAHistoryEntryPerImageAnnouncedAsEachIsSaved()
    {
        using var client = _factory.CreateClient();
        _factory.Generator.Hold = true;
        var id = await QueueAsync(client, new { prompt = "a fox", steps = 2, seed = 7, width = 48, height = 32, batchCount = 3 });
        var events = await client.GetAsync($"/api/generations/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        await _factory.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _factory.Generator.Release();
        var seen = await ReadEventsAsync(events);

        var status = await WaitFinishedAsync(client, id);
        Assert.Equal(3, status.HistoryIds.Count);
        Assert.Equal(3, status.Images);
        var saved = seen.Where(e => e.Name == "imagesaved").ToList();
        Assert.Equal(status.HistoryIds, saved.Select(e => e.Data.GetProperty("historyId").GetInt64()));
        Assert.Equal([1, 2, 3], saved.Select(e => e.Data.GetProperty("image").GetInt32()));
        Assert.Equal("completed", seen[^1].Name);

        var items = await Task.WhenAll(status.HistoryIds.Select(h => client.GetFromJsonAsync<HistoryItemDetails>($"/api/history/{h}", Json)));
        Assert.Equal([7L, 8, 9], items.Select(i => i!.Item.Seed));
        Assert.NotNull(Assert.Single(items.Select(i => i!.Item.BatchId).Distinct()));
    }

    [Fact]
    public async Task SeedsGivenOneByOneMakeOneImageEach()
    {
        using var client = _factory.CreateClient();
        var status = await GenerateAsync(client, new { prompt = "a fox", steps = 2, width = 48, height = 32, seeds = new[] { 11, 4 } });

        var seeds = await Task.WhenAll(status.HistoryIds.Select(async h => (await EntryAsync(h)).Seed));
        Assert.Equal([11L, 4], seeds);
    }

    [Fact]
    public async Task APictureThatIsNotOneIsAFieldErrorAndNothingIsQueued()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/generations",
            Form(new { prompt = "a fox", width = 48, height = 32 }, (GenerationApiBody.InitImageField, "GIF89a not really"u8.ToArray())));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Contains("PNG, JPEG or WebP", problem.GetProperty("errors").GetProperty("image")[0].GetString());
        Assert.Empty(await _factory.Services.GetRequiredService<App.Generation.GenerationQueue>().ListActiveAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AFormWithoutTheSettingsPartSaysWhereToPutThem()
    {
        using var client = _factory.CreateClient();
        var form = new MultipartFormDataContent { { new ByteArrayContent(Picture()), GenerationApiBody.InitImageField, "picture.png" } };

        var response = await client.PostAsync("/api/generations", form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("'request'", (await ProblemAsync(response)).GetProperty("errors").GetProperty("request")[0].GetString());
    }

    [Fact]
    public async Task AnotherContentTypeIsRefusedSayingWhatToSend()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/generations", new StringContent("prompt=a fox", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("multipart/form-data", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task OpenApiDescribesTheJsonAndTheMultipartBodies()
    {
        using var client = _factory.CreateClient();
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var body = document.GetProperty("paths").GetProperty("/api/generations").GetProperty("post").GetProperty("requestBody").GetProperty("content");

        var multipart = body.GetProperty("multipart/form-data");
        var parts = multipart.GetProperty("schema").GetProperty("properties");
        Assert.Equal("binary", parts.GetProperty(GenerationApiBody.ControlNetImageField).GetProperty("format").GetString());
        Assert.Equal("binary", parts.GetProperty(GenerationApiBody.InitImageField).GetProperty("format").GetString());
        Assert.Equal("application/json", multipart.GetProperty("encoding").GetProperty(GenerationApiBody.RequestField).GetProperty("contentType").GetString());
        var settings = Resolve(document, body.GetProperty("application/json").GetProperty("schema")).GetProperty("properties");
        foreach (var field in new[] { "controlNetStrength", "controlNetEncoding", "controlNetSaveCanny", "imageStrength", "batchCount", "seeds" })
            Assert.True(settings.TryGetProperty(field, out _), $"the settings schema lacks {field}");
    }

    private static JsonElement Resolve(JsonElement document, JsonElement schema) =>
        schema.TryGetProperty("$ref", out var reference)
            ? document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1])
            : schema;
}

/// <summary>Pictures over the upload limit are refused as too large, like every upload.</summary>
public sealed class GenerationPictureLimitTests : IDisposable
{
    private readonly SmallUploadStudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task APictureOverTheUploadLimitIsTooLarge()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/generations", GenerationInputsApiTests.Form(new { prompt = "a fox", width = 48, height = 32 },
            (GenerationApiBody.ControlNetImageField, GenerationInputsApiTests.Picture(200, 200))));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("FluxStudio:Web:MaxUploadBytes", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    private sealed class SmallUploadStudioFactory : StudioFactory
    {
        protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings() => [new("FluxStudio:Web:MaxUploadBytes", "300")];
    }
}
