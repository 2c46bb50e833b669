using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.App.Tests.Support;
using FluxStudio.Web.Api;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

/// <summary>The server with the engine on the CPU in fp32: training uses the FLUX.1 engine whatever stands in for generations.</summary>
public sealed class TrainingStudioFactory : StudioFactory
{
    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings() =>
    [
        new("FluxStudio:Engine:Device", "cpu"),
        new("FluxStudio:Engine:Precision", "fp32"),
        new("Models:AllowDownload", "false"),
    ];
}

/// <summary>
/// <c>/api/trainings</c>: a run started with the original app's train.json and its pictures, followed, cancelled, continued,
/// and its files downloaded.
/// </summary>
public sealed class TrainingApiTests : IDisposable
{
    private readonly TrainingStudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static MultipartFormDataContent Form(string config, IEnumerable<(string Name, byte[] Bytes)> images, string? modelPath)
    {
        var form = new MultipartFormDataContent { { new StringContent(config, Encoding.UTF8, "application/json"), TrainingEndpoints.ConfigField } };
        foreach (var (name, bytes) in images)
            form.Add(new ByteArrayContent(bytes), TrainingEndpoints.ImagesField, name);
        if (modelPath is not null)
            form.Add(new StringContent(modelPath), TrainingEndpoints.ModelPathField);
        return form;
    }

    private static async Task<TrainingRunState> StartAsync(HttpClient client, int steps = 4, int every = 2)
    {
        var (json, images) = TrainingTinyRun.Upload(steps, every);
        var response = await client.PostAsync("/api/trainings", Form(json, images, TrainingTinyRun.ModelFolder));
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<TrainingRunState>(Json))!;
    }

    /// <summary>Polls until the run is in one of <paramref name="states"/>; the limit only keeps a broken server from hanging the run.</summary>
    private static async Task<TrainingRunState> WaitAsync(HttpClient client, string id, params string[] states)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            var state = (await client.GetFromJsonAsync<TrainingRunState>($"/api/trainings/{id}", Json, limit.Token))!;
            if (states.Contains(state.Status))
                return state;
            await Task.Delay(50, limit.Token);
        }
    }

    [Fact]
    public async Task ARunTrainsAndServesItsLossesFilesAndLoraWhichTheCatalogListsAtOnce()
    {
        using var client = _factory.CreateClient();
        var started = await StartAsync(client);
        Assert.Equal("queued", started.Status);
        Assert.Equal(4, started.TotalSteps);

        var done = await WaitAsync(client, started.Id, "done", "failed", "cancelled");
        Assert.True(done.Status == "done", done.Error);
        Assert.Equal([1, 2, 3, 4], done.Losses!.Select(l => l.Step));
        Assert.Equal(done.Losses![^1].Loss, done.LastLoss);
        Assert.Equal(["checkpoints", "checkpoints", "plots", "plots", "validation", "validation", "lora"], done.Files.Select(f => f.Kind));
        Assert.Equal(done.Files.Last(f => f.Kind == "validation").Url, done.ValidationImageUrl);

        var pdf = await client.GetAsync(done.Files.Single(f => f.Name.EndsWith(".pdf")).Url);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("%PDF-", Encoding.ASCII.GetString(await pdf.Content.ReadAsByteArrayAsync())[..5]);
        var zip = await client.GetAsync(done.Files.First(f => f.Kind == "checkpoints").Url);
        using (var archive = new ZipArchive(new MemoryStream(await zip.Content.ReadAsByteArrayAsync())))
            Assert.Contains("checkpoint.json", archive.Entries.Select(e => e.FullName));
        var image = await client.GetAsync(done.ValidationImageUrl);
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);

        var loras = await client.GetFromJsonAsync<JsonElement>("/api/loras", Json);
        Assert.Contains(done.LoraName!, loras.GetRawText());
        Assert.Equal("sks", done.ActivationKeyword);

        var list = (await client.GetFromJsonAsync<List<TrainingRunState>>("/api/trainings", Json))!;
        Assert.Equal([started.Id], list.Select(r => r.Id));
        var events = await ReadEventsAsync(await client.GetAsync($"/api/trainings/{started.Id}/events", HttpCompletionOption.ResponseHeadersRead));
        Assert.Equal("done", Assert.Single(events).Data.GetProperty("status").GetString());
    }

    [Fact]
    public async Task EventsFollowARunToItsEnd()
    {
        using var client = _factory.CreateClient();
        var started = await StartAsync(client);
        var events = await ReadEventsAsync(await client.GetAsync($"/api/trainings/{started.Id}/events", HttpCompletionOption.ResponseHeadersRead));

        Assert.Equal("state", events[0].Name);
        Assert.Equal("done", events[^1].Data.GetProperty("status").GetString());
        var losses = events.Where(e => e.Name == "progress" && e.Data.TryGetProperty("loss", out var l) && l.ValueKind == JsonValueKind.Number)
            .Select(e => e.Data.GetProperty("step").GetInt32()).ToList();
        Assert.Equal([1, 2, 3, 4], losses);
        Assert.Contains(events, e => e.Data.TryGetProperty("written", out var w) && w.GetString() == "0000002_checkpoint.zip");
    }

    [Fact]
    public async Task ACancelledRunIsContinuedFromItsLastCheckpoint()
    {
        using var client = _factory.CreateClient();
        var started = await StartAsync(client, steps: 8, every: 1);
        await WaitAsync(client, started.Id, "running");
        using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            while ((await client.GetFromJsonAsync<TrainingRunState>($"/api/trainings/{started.Id}", Json, limit.Token))!.Files.All(f => f.Kind != "checkpoints"))
                await Task.Delay(20, limit.Token);

        var cancel = await client.DeleteAsync($"/api/trainings/{started.Id}");
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var cancelled = await WaitAsync(client, started.Id, "cancelled", "done");
        Assert.Equal("cancelled", cancelled.Status);
        Assert.DoesNotContain(cancelled.Files, f => f.Kind == "lora");
        Assert.Equal(HttpStatusCode.Conflict, (await client.DeleteAsync($"/api/trainings/{started.Id}")).StatusCode);

        var resume = await client.PostAsync($"/api/trainings/{started.Id}/resume", null);
        Assert.Equal(HttpStatusCode.Accepted, resume.StatusCode);
        var done = await WaitAsync(client, started.Id, "done", "failed");
        Assert.Equal("done", done.Status);
        Assert.Equal(2, done.Attempts);
        Assert.Equal(Enumerable.Range(1, 8), done.Losses!.Select(l => l.Step));
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync($"/api/trainings/{started.Id}/resume", null)).StatusCode);
    }

    [Fact]
    public async Task ProblemsComeBackKeyedByTheConfigurationsKeys()
    {
        using var client = _factory.CreateClient();
        var (json, images) = TrainingTinyRun.Upload(4, 2);
        var config = JsonNode.Parse(json)!;
        config["training_loop"]!["batch_size"] = 0;

        var invalid = await client.PostAsync("/api/trainings", Form(config.ToJsonString(), images, null));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.True((await ProblemAsync(invalid)).GetProperty("errors").TryGetProperty("training_loop.batch_size", out _));

        var missing = await client.PostAsync("/api/trainings", Form(json, images.Take(1), null));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.True((await ProblemAsync(missing)).GetProperty("errors").TryGetProperty("examples.images[1].image", out _));

        var notAnImage = await client.PostAsync("/api/trainings", Form(json, [(images[0].Name, "not a picture"u8.ToArray()), images[1]], null));
        Assert.Equal(HttpStatusCode.BadRequest, notAnImage.StatusCode);

        var traversal = await client.PostAsync("/api/trainings", Form(json, [("../" + images[0].Name, images[0].Bytes), images[1]], null));
        Assert.Equal(HttpStatusCode.BadRequest, traversal.StatusCode);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsJsonAsync("/api/trainings", new { config = json })).StatusCode);
        Assert.Empty((await client.GetFromJsonAsync<List<TrainingRunState>>("/api/trainings", Json))!);
    }

    [Fact]
    public async Task UnknownRunsAndFilesAreNotFound()
    {
        using var client = _factory.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/trainings/20250101-000000-abcdef")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/trainings/..%2F..")).StatusCode);
        var started = await StartAsync(client);
        await WaitAsync(client, started.Id, "done", "failed");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/trainings/{started.Id}/files/lora/..%2Ftrain.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/trainings/{started.Id}/files/config/train.json")).StatusCode);
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheTrainingApi()
    {
        using var client = _factory.CreateClient();
        var paths = (await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json")).GetProperty("paths");
        foreach (var path in new[] { "/api/trainings", "/api/trainings/{id}", "/api/trainings/{id}/events", "/api/trainings/{id}/resume",
                     "/api/trainings/{id}/files/{kind}/{name}" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        var form = paths.GetProperty("/api/trainings").GetProperty("post").GetProperty("requestBody").GetProperty("content")
            .GetProperty("multipart/form-data").GetProperty("schema").GetProperty("properties");
        Assert.True(form.TryGetProperty(TrainingEndpoints.ConfigField, out _));
        Assert.True(form.TryGetProperty(TrainingEndpoints.ImagesField, out _));
    }
}
