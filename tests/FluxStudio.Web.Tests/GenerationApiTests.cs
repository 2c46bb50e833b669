using System.Net;
using System.Net.Http.Json;
using FluxStudio.App.Generation;
using FluxStudio.Web.Api;
using Microsoft.Extensions.DependencyInjection;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

public sealed class GenerationApiTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task QueuesAGenerationRunsItAndServesTheImage()
    {
        using var client = _factory.CreateClient();

        var status = await GenerateAsync(client, SmallRequest(seed: 1234));

        Assert.Equal(2, status.Step);
        Assert.Equal(2, status.Steps);
        Assert.Equal(1234, status.Seed);
        Assert.NotNull(status.HistoryId);
        var image = await client.GetAsync($"/api/images/{status.HistoryId}");
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
        var png = await image.Content.ReadAsByteArrayAsync();
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
    }

    [Fact]
    public async Task ARandomSeedIsReportedOnceTheImageIsDone()
    {
        using var client = _factory.CreateClient();
        var status = await GenerateAsync(client, SmallRequest(seed: 0));
        Assert.True(status.Seed > 0);
    }

    [Fact]
    public async Task InvalidSettingsAreProblemDetailsWithTheValidatorsMessagesByJsonField()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsJsonAsync("/api/generations",
            new { prompt = "", model = "schnell", width = 50, height = 32, steps = 0, loras = new[] { new { name = "../x.safetensors", scale = 9.0 } } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        var errors = problem.GetProperty("errors");
        var validator = _factory.Services.GetRequiredService<GenerationRequestValidator>();
        var expected = validator.Validate(new GenerationRequest { Prompt = "", Width = 50, Height = 32, Steps = 0,
            Loras = [new LoraSelection("../x.safetensors", 9.0)] }).Errors;
        Assert.Equal(expected["Width"], errors.GetProperty("width")[0].GetString());
        Assert.Equal(expected["Prompt"], errors.GetProperty("prompt")[0].GetString());
        Assert.Equal(expected["Steps"], errors.GetProperty("steps")[0].GetString());
        Assert.Equal(expected["Loras[0].Name"], errors.GetProperty("loras[0].name")[0].GetString());
        Assert.Equal(expected["Loras[0].Scale"], errors.GetProperty("loras[0].scale")[0].GetString());
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task AnUnknownModelIsNamedInTheProblem()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", model = "turbo", width = 48, height = 32 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Contains("\"turbo\" is unknown", problem.GetProperty("errors").GetProperty("model")[0].GetString());
    }

    [Fact]
    public async Task AMissingModelPathIsReportedOnThePathField()
    {
        using var client = _factory.CreateClient();
        var missing = Path.Combine(_factory.DataRoot, "no-model-here");
        var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", width = 48, height = 32, path = missing });
        var problem = await ProblemAsync(response);
        Assert.Contains("does not exist", problem.GetProperty("errors").GetProperty("path")[0].GetString());
    }

    [Fact]
    public async Task OnLoopbackAnyExistingModelPathIsHonoured()
    {
        using var client = _factory.CreateClient();
        var elsewhere = Directory.CreateTempSubdirectory("fluxstudio-model-").FullName;
        try
        {
            var response = await client.PostAsJsonAsync("/api/generations", new { prompt = "fox", width = 48, height = 32, path = elsewhere });
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }
        finally
        {
            Directory.Delete(elsewhere);
        }
    }

    [Fact]
    public async Task ABodyThatIsNotJsonIsABadRequestProblem()
    {
        using var client = _factory.CreateClient();
        var broken = await client.PostAsync("/api/generations", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        Assert.Equal(400, (await ProblemAsync(broken)).GetProperty("status").GetInt32());

        var wrongType = await client.PostAsync("/api/generations",
            new StringContent("""{"prompt": "fox", "width": "wide"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
        Assert.True((await ProblemAsync(wrongType)).GetProperty("errors").TryGetProperty("width", out _));
    }

    [Fact]
    public async Task EventsStreamProgressThenCompletion()
    {
        using var client = _factory.CreateClient();
        _factory.Generator.Hold = true;
        var id = await QueueAsync(client, SmallRequest(steps: 3));
        using var response = await client.GetAsync($"/api/generations/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await _factory.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _factory.Generator.Release();

        var events = await ReadEventsAsync(response);

        var progress = events.Where(e => e.Name == "progress").Select(e => e.Data.GetProperty("step").GetInt32()).ToList();
        Assert.Contains(3, progress);
        Assert.Equal(progress.Order().ToList(), progress);
        var last = events[^1];
        Assert.Equal("completed", last.Name);
        Assert.True(last.Data.GetProperty("historyId").GetInt64() > 0);
    }

    [Fact]
    public async Task CancellingARunningGenerationStopsIt()
    {
        using var client = _factory.CreateClient();
        _factory.Generator.Hold = true;
        var id = await QueueAsync(client, SmallRequest());
        await _factory.Generator.FirstStepReported.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var running = await client.GetFromJsonAsync<GenerationStatus>($"/api/generations/{id}", Json);
        Assert.Equal("running", running!.Status);
        Assert.Equal(1, running.Step);
        Assert.Equal(0, running.QueuePosition);

        var cancel = await client.DeleteAsync($"/api/generations/{id}");
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var status = await WaitFinishedAsync(client, id);
        Assert.Equal("cancelled", status.Status);
        Assert.Null(status.HistoryId);

        var again = await client.DeleteAsync($"/api/generations/{id}");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("already finished", (await ProblemAsync(again)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("GET", "/api/generations/987654")]
    [InlineData("GET", "/api/generations/987654/events")]
    [InlineData("DELETE", "/api/generations/987654")]
    public async Task AnUnknownGenerationIsNotFound(string method, string url)
    {
        using var client = _factory.CreateClient();
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("There is no generation 987654", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }
}
