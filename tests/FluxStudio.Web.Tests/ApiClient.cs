using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using FluxStudio.Web.Api;

namespace FluxStudio.Web.Tests;

/// <summary>Small helpers over the REST API shared by the tests.</summary>
public static class ApiClient
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static object SmallRequest(string prompt = "a red fox", long seed = 42, int steps = 2) =>
        new { prompt, model = "schnell", steps, seed, width = 48, height = 32 };

    public static async Task<long> QueueAsync(HttpClient client, object body)
    {
        var response = await client.PostAsJsonAsync("/api/generations", body);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<GenerationCreated>(Json);
        return created!.Id;
    }

    /// <summary>Polls until the job leaves the queue; the limit only keeps a broken server from hanging the run.</summary>
    public static async Task<GenerationStatus> WaitFinishedAsync(HttpClient client, long id)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var status = await client.GetFromJsonAsync<GenerationStatus>($"/api/generations/{id}", Json, limit.Token);
            if (status!.Status is "done" or "failed" or "cancelled")
                return status;
            await Task.Delay(50, limit.Token);
        }
    }

    /// <summary>Queues a generation and waits until it is done.</summary>
    public static async Task<GenerationStatus> GenerateAsync(HttpClient client, object body)
    {
        var status = await WaitFinishedAsync(client, await QueueAsync(client, body));
        Assert.Equal("done", status.Status);
        return status;
    }

    /// <summary>Reads a server-sent event stream to its end: each event's name and its JSON data.</summary>
    public static async Task<List<(string Name, JsonElement Data)>> ReadEventsAsync(HttpResponseMessage response)
    {
        var events = new List<(string Name, JsonElement Data)>();
        await using var stream = await response.Content.ReadAsStreamAsync();
        var parser = SseParser.Create(stream, (_, data) => JsonSerializer.Deserialize<JsonElement>(data));
        await foreach (var item in parser.EnumerateAsync())
            events.Add((item.EventType, item.Data));
        return events;
    }

    /// <summary>A multipart/form-data body with one file, as a browser form or <c>curl -F image=@file</c> sends it.</summary>
    public static MultipartFormDataContent ImageForm(byte[] bytes, string field = "image")
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        return new MultipartFormDataContent { { file, field, "upload.png" } };
    }

    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>(Json);
    }
}
