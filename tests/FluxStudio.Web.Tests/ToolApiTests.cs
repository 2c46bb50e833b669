using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

public sealed class ToolApiTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static ByteArrayContent Body(byte[] bytes, string type = "image/png")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    [Fact]
    public async Task RemoveBackgroundRefusesAFileThatIsNotAnImageWhateverItClaims()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/remove-background", Body("#!/bin/sh\nrm -rf /\n"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not a PNG, JPEG or WebP", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task RemoveBackgroundWithoutItsModelSaysSoAsAServerProblem()
    {
        using var client = _factory.CreateClient();
        var png = await ImageOf(client);
        var response = await client.PostAsync("/api/remove-background", Body(png));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((await ProblemAsync(response)).GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task EnhanceStreamsAReadableErrorWhenTheBackendIsUnreachable()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsJsonAsync("/api/enhance", new { model = "llama3", text = "a fox" });
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("event: error", body);
    }

    private static async Task<byte[]> ImageOf(HttpClient client)
    {
        var status = await WaitFinishedAsync(client, await QueueAsync(client, SmallRequest()));
        return await client.GetByteArrayAsync($"/api/images/{status.HistoryId}");
    }
}
