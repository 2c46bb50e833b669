using System.Text.Json.Nodes;
using FluxStudio.App.Enhancement;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

public sealed class EnhanceStreamingTests
{
    [Fact]
    public async Task TextModeStreamsTheAnswerAndSendsTheInstructionsWithTheIdea()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        var tokens = await CollectAsync(services.Enhancer().EnhanceAsync(new EnhanceRequest("llama3.2:latest", "  a fox in the snow ")));

        Assert.Equal(ollama.Reply, tokens);
        var body = Assert.Single(ollama.ChatRequests);
        Assert.Equal("llama3.2:latest", (string?)body["model"]);
        Assert.True((bool?)body["stream"] ?? true);
        var messages = body["messages"]!.AsArray();
        Assert.Equal(2, messages.Count);
        Assert.Equal("system", (string?)messages[0]!["role"]);
        Assert.Equal(EnhancementInstructions.TextModeInstructions, (string?)messages[0]!["content"]);
        Assert.Equal("user", (string?)messages[1]!["role"]);
        Assert.Equal("Idea: a fox in the snow", (string?)messages[1]!["content"]);
        Assert.All(messages, message => Assert.Null(message!["images"]));
    }

    [Theory]
    [InlineData("llava:7b")]
    [InlineData("llama3.2-vision:latest")]
    [InlineData("qwen2.5vl:7b")]
    public async Task VisionModeSendsTheImageInTheImagesFieldForEveryVisionModel(string model)
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Models.Add(new("llama3.2-vision:latest", ["mllama"], ["completion", "vision"]));
        ollama.Models.Add(new("qwen2.5vl:7b", ["qwen25vl"], ["completion", "vision"]));
        await using var services = Services(ollama.Endpoint);
        var image = EnhanceImage.FromBytes(PngBytes);

        var tokens = await CollectAsync(services.Enhancer().EnhanceAsync(new EnhanceRequest(model, "make it night", image)));

        Assert.Equal(string.Concat(ollama.Reply), string.Concat(tokens));
        var body = Assert.Single(ollama.ChatRequests);
        Assert.Equal(model, (string?)body["model"]);
        var message = Assert.Single(body["messages"]!.AsArray())!;
        Assert.Equal("user", (string?)message["role"]);
        var content = (string)message["content"]!;
        Assert.StartsWith(EnhancementInstructions.VisionModeInstructions, content);
        Assert.Contains("style", content);
        Assert.Contains("colours", content);
        Assert.Contains("composition", content);
        Assert.EndsWith("make it night", content);
        var images = message["images"]!.AsArray();
        Assert.Equal(Convert.ToBase64String(PngBytes), (string?)Assert.Single(images));
        Assert.Null(message["image"]);
    }

    [Fact]
    public async Task VisionModeWorksWithAnImageAlone()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        await CollectAsync(services.Enhancer().EnhanceAsync(new EnhanceRequest("llava:7b", null, EnhanceImage.FromBytes(PngBytes))));

        var message = Assert.Single(Assert.Single(ollama.ChatRequests)["messages"]!.AsArray())!;
        Assert.Equal(EnhancementInstructions.VisionModeInstructions, (string?)message["content"]);
    }

    [Fact]
    public async Task AModelNameWithoutTagMeansTheLatestTag()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        await CollectAsync(services.Enhancer().EnhanceAsync(new EnhanceRequest("llama3.2", "a cat")));

        Assert.Equal("llama3.2:latest", (string?)Assert.Single(ollama.ChatRequests)["model"]);
    }

    [Fact]
    public async Task TokensArriveWhileTheServerIsStillWriting()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        var firstTokenSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restSentBeforeFirstTokenSeen = false;
        ollama.Chat = (context, request) => ollama.StreamReplyAsync(context, request, ollama.Reply, async index =>
        {
            if (index != 1)
                return;
            // Hold the rest of the answer back until the client has shown the first piece.
            try { await firstTokenSeen.Task.WaitAsync(HangGuard); }
            catch (TimeoutException) { restSentBeforeFirstTokenSeen = true; }
        });
        await using var services = Services(ollama.Endpoint);

        var tokens = new List<string>();
        await foreach (var token in services.Enhancer().EnhanceAsync(new EnhanceRequest("llama3.2:latest", "a fox")))
        {
            tokens.Add(token);
            firstTokenSeen.TrySetResult();
        }

        Assert.False(restSentBeforeFirstTokenSeen);
        Assert.Equal(ollama.Reply, tokens);
    }

    [Fact]
    public async Task CancellingStopsTheStreamAndTheServersWork()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        };
        await using var services = Services(ollama.Endpoint);
        using var cancel = new CancellationTokenSource();
        var tokens = new List<string>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var token in services.Enhancer().EnhanceAsync(new EnhanceRequest("llama3.2:latest", "a fox"), cancel.Token))
            {
                tokens.Add(token);
                cancel.Cancel();
            }
        });

        Assert.Equal(["A "], tokens);
        await ollama.ChatAborted.Task.WaitAsync(HangGuard);
    }
}
