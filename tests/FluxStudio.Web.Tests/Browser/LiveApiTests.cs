using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>The REST API over real Kestrel with the real engine on the tiny model.</summary>
[Collection(BrowserCollection.Name)]
public sealed class LiveApiTests(LiveStudioServer server)
{
    [Fact]
    public async Task ServerSentEventsCarryEachStepWithAPreviewThenTheFinishedImage()
    {
        using var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl) };
        var response = await client.PostAsJsonAsync("/api/generations",
            new { prompt = "a small red boat", steps = 2, seed = 99, width = 48, height = 32, path = server.TinyModel });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();

        using var stream = await client.GetAsync($"/api/generations/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        var events = await ReadEventsAsync(stream);

        var last = events[^1];
        Assert.Equal("completed", last.Name);
        var historyId = last.Data.GetProperty("historyId").GetInt64();
        // The job may have started before the stream opened; whatever denoising steps are seen carry a PNG preview, and
        // the stages come in the engine's order.
        var progressEvents = events.Where(e => e.Name == "progress").ToList();
        string[] order = ["loadingModel", "encodingPrompt", "denoising", "decoding"];
        var stages = progressEvents.Select(e => Array.IndexOf(order, e.Data.GetProperty("stage").GetString())).ToList();
        Assert.DoesNotContain(-1, stages);
        Assert.Equal(stages.Order(), stages);
        foreach (var progress in progressEvents.Where(e => e.Data.GetProperty("stage").GetString() == "denoising" &&
                                                           e.Data.GetProperty("step").GetInt32() > 0))
        {
            var preview = progress.Data.GetProperty("preview").GetBytesFromBase64();
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, preview[..4]);
        }

        var status = await client.GetFromJsonAsync<JsonElement>($"/api/generations/{id}");
        Assert.Equal("done", status.GetProperty("status").GetString());
        Assert.Equal(99, status.GetProperty("seed").GetInt64());
        Assert.Equal(historyId, status.GetProperty("historyId").GetInt64());
        var png = await client.GetByteArrayAsync($"/api/images/{historyId}");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/history/{historyId}")).StatusCode);
    }
}
