using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

public sealed class ToolApiTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static ByteArrayContent Body(byte[] bytes, string? type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = type is null ? null : new MediaTypeHeaderValue(type);
        return content;
    }

    [Fact]
    public async Task RemoveBackgroundRefusesAFileThatIsNotAnImageWhateverItClaims()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/remove-background", ImageForm("#!/bin/sh\nrm -rf /\n"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not a PNG, JPEG or WebP", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task RemoveBackgroundWithoutItsModelSaysSoAsAServerProblem()
    {
        using var client = _factory.CreateClient();
        var png = await ImageOf(client);
        var response = await client.PostAsync("/api/remove-background", ImageForm(png));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((await ProblemAsync(response)).GetProperty("detail").GetString()));
    }

    [Theory]
    [InlineData("image/png")]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task RemoveBackgroundTakesOnlyMultipartFormData(string? type)
    {
        using var client = _factory.CreateClient();
        var png = await ImageOf(client);

        var response = await client.PostAsync("/api/remove-background", Body(png, type));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("multipart/form-data", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task RemoveBackgroundSaysWhichFieldIsMissing()
    {
        using var client = _factory.CreateClient();
        var response = await client.PostAsync("/api/remove-background", ImageForm(await ImageOf(client), field: "file"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("'image'", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    [InlineData("Sec-Fetch-Site", "same-site")]
    [InlineData("Origin", "https://attacker.example")]
    [InlineData("Origin", "null")]
    public async Task AFormPostedByAnotherSiteIsRefused(string header, string value)
    {
        var response = await RemoveBackgroundWithHeaderAsync(header, value);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("another web site", (await ProblemAsync(response)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("Sec-Fetch-Site", "same-origin")]
    [InlineData("Origin", "http://localhost")]
    public async Task ARequestFromTheStudiosOwnPageIsServed(string header, string value)
    {
        var response = await RemoveBackgroundWithHeaderAsync(header, value);

        // No model is installed here, so the remover answers 503: the request got through to it.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    /// <summary>Posts an image to the background remover with one header a browser adds.</summary>
    private async Task<HttpResponseMessage> RemoveBackgroundWithHeaderAsync(string header, string value)
    {
        using var client = _factory.CreateClient();
        var png = await ImageOf(client);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/remove-background") { Content = ImageForm(png) };
        request.Headers.Add(header, value);
        return await client.SendAsync(request);
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
