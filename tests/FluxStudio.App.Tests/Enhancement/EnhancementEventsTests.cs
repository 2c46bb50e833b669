using FluxStudio.Engine.Tests;
using System.Net.ServerSentEvents;
using System.Text;
using FluxStudio.App.Enhancement;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

public sealed class EnhancementEventsTests
{
    [Fact]
    public async Task StreamsTokensThenDoneAndSurvivesTheWireFormat()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);
        var body = new EnhanceApiRequest("llava:7b", "at dusk", Convert.ToBase64String(PngBytes));

        var events = await CollectAsync(EnhancementEvents.StreamAsync(services.Enhancer(), body));

        Assert.Equal([.. ollama.Reply.Select(_ => "token"), "done"], events.Select(e => e.EventType));
        // Written and parsed as text/event-stream, the pieces (with their leading and trailing spaces) come back intact.
        using var wire = new MemoryStream();
        await SseFormatter.WriteAsync(events.ToAsyncEnumerable(), wire);
        wire.Position = 0;
        var parsed = new List<string>();
        await foreach (var item in SseParser.Create(wire).EnumerateAsync())
            if (item.EventType == EnhancementEvents.Token)
                parsed.Add(item.Data);
        Assert.Equal(ollama.Reply, parsed);
        Assert.Equal(Convert.ToBase64String(PngBytes), (string?)Assert.Single(ollama.ChatRequests)["messages"]![0]!["images"]![0]);
    }

    [Fact]
    public async Task AnInvalidRequestBecomesASingleErrorEvent()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        var events = await CollectAsync(EnhancementEvents.StreamAsync(services.Enhancer(), new EnhanceApiRequest("llava:7b", "x", "@@@")));

        var error = Assert.Single(events);
        Assert.Equal("error", error.EventType);
        Assert.Contains("not valid base64", error.Data);
    }

    [Fact]
    public async Task AnAbsentServerBecomesAnErrorEvent()
    {
        await using var services = Services(LoopbackPorts.ClosedEndpoint());

        var events = await CollectAsync(EnhancementEvents.StreamAsync(services.Enhancer(), new EnhanceApiRequest("llama3.2", "a fox")));

        var error = Assert.Single(events);
        Assert.Equal("error", error.EventType);
        Assert.Contains("ollama serve", error.Data);
    }

    [Fact]
    public async Task AFailureMidStreamKeepsTheTokensAndEndsWithAnError()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
        };
        await using var services = Services(ollama.Endpoint);

        var events = await CollectAsync(EnhancementEvents.StreamAsync(services.Enhancer(), new EnhanceApiRequest("llama3.2", "a fox")));

        Assert.Equal(["token", "error"], events.Select(e => e.EventType));
        Assert.Equal("A ", events[0].Data);
        Assert.Contains("before the answer was complete", events[1].Data);
    }
}
