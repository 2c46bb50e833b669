using FluxStudio.Engine.Tests;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using FluxStudio.App.Enhancement;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Tests.Enhancement;

/// <summary>
/// <c>POST /api/enhance</c> mapped the way the web project maps it, served by Kestrel and read as a browser would:
/// proves the service and <see cref="EnhancementEvents"/> make a working server-sent-events endpoint as they are.
/// </summary>
public sealed class EnhanceEndpointTests
{
    private static async Task<WebApplication> StartStudioAsync(Uri ollamaEndpoint)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddPromptEnhancer(options => options.Endpoint = ollamaEndpoint.ToString());
        var app = builder.Build();
        app.MapPost("/api/enhance", (EnhanceApiRequest body, PromptEnhancer enhancer, CancellationToken cancellationToken) =>
            TypedResults.ServerSentEvents(EnhancementEvents.StreamAsync(enhancer, body, cancellationToken)));
        await app.StartAsync();
        return app;
    }

    private static async Task<List<SseItem<string>>> PostAsync(WebApplication studio, EnhanceApiRequest body)
    {
        using var http = new HttpClient { BaseAddress = new Uri(studio.Urls.Single()) };
        using var response = await http.PostAsJsonAsync("/api/enhance", body);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
            events.Add(item);
        return events;
    }

    [Fact]
    public async Task StreamsTheAnswerAsServerSentEvents()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var studio = await StartStudioAsync(ollama.Endpoint);

        var events = await PostAsync(studio, new EnhanceApiRequest("llama3.2", "a fox"));

        Assert.Equal([.. ollama.Reply.Select(_ => "token"), "done"], events.Select(e => e.EventType));
        Assert.Equal(string.Concat(ollama.Reply), string.Concat(events.Where(e => e.EventType == "token").Select(e => e.Data)));
    }

    [Fact]
    public async Task SendsTheErrorAsAnEventWhenOllamaIsAbsent()
    {
        await using var studio = await StartStudioAsync(LoopbackPorts.ClosedEndpoint());

        var events = await PostAsync(studio, new EnhanceApiRequest("llama3.2", "a fox"));

        var error = Assert.Single(events);
        Assert.Equal("error", error.EventType);
        Assert.Contains("ollama serve", error.Data);
    }
}
