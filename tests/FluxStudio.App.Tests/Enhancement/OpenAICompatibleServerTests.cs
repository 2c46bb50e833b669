using FluxStudio.Engine.Tests;
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.App.Enhancement;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

/// <summary>The same service against a loopback server that speaks the OpenAI chat API, as LM Studio and llama.cpp do.</summary>
public sealed class OpenAICompatibleServerTests : IAsyncLifetime
{
    private WebApplication _server = null!;
    private Uri _endpoint = null!;
    private readonly ConcurrentQueue<JsonNode> _chatRequests = new();
    private readonly TaskCompletionSource _chatAborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _stall;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _server = builder.Build();
        _server.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[]
            {
                new { id = "llama-3.2-3b-instruct", @object = "model", created = 0, owned_by = "organization_owner" },
                new { id = "qwen2.5-vl-7b-instruct", @object = "model", created = 0, owned_by = "organization_owner" },
            },
        }));
        _server.MapPost("/v1/chat/completions", async context =>
        {
            var body = (await JsonNode.ParseAsync(context.Request.Body))!;
            _chatRequests.Enqueue(body);
            context.RequestAborted.Register(() => _chatAborted.TrySetResult());
            context.Response.ContentType = "text/event-stream";
            string?[] pieces = ["A ", "red ", "fox."];
            foreach (var piece in pieces)
            {
                await WriteEventAsync(context, Chunk((string)body["model"]!, new { role = "assistant", content = piece }, null));
                if (_stall)
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            await WriteEventAsync(context, Chunk((string)body["model"]!, new { }, "stop"));
            await context.Response.WriteAsync("data: [DONE]\n\n");
        });
        await _server.StartAsync();
        _endpoint = new Uri(new Uri(_server.Urls.Single()), "v1");
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync();
        await _server.DisposeAsync();
    }

    private static object Chunk(string model, object delta, string? finishReason) => new
    {
        id = "chatcmpl-1",
        @object = "chat.completion.chunk",
        created = 1735689600,
        model,
        choices = new[] { new { index = 0, delta, finish_reason = finishReason } },
    };

    private static async Task WriteEventAsync(HttpContext context, object data)
    {
        await context.Response.WriteAsync($"data: {JsonSerializer.Serialize(data)}\n\n");
        await context.Response.Body.FlushAsync();
    }

    private ServiceProviderScope Enhancer(Action<EnhancerOptions>? configure = null) => new(Services(_endpoint, o =>
    {
        o.Provider = EnhancerProvider.OpenAI;
        configure?.Invoke(o);
    }));

    private sealed class ServiceProviderScope(Microsoft.Extensions.DependencyInjection.ServiceProvider services) : IAsyncDisposable
    {
        public PromptEnhancer Enhancer => services.Enhancer();
        public ValueTask DisposeAsync() => services.DisposeAsync();
    }

    [Fact]
    public async Task ListsTheServersModelsAndGuessesVisionFromTheName()
    {
        await using var scope = Enhancer();

        var models = await scope.Enhancer.ListModelsAsync();

        Assert.Equal([new EnhancerModel("llama-3.2-3b-instruct", false), new EnhancerModel("qwen2.5-vl-7b-instruct", true)], models);
    }

    [Fact]
    public async Task StreamsATextEnhancement()
    {
        await using var scope = Enhancer();

        var tokens = await CollectAsync(scope.Enhancer.EnhanceAsync(new("llama-3.2-3b-instruct", "a fox")));

        Assert.Equal(["A ", "red ", "fox."], tokens);
        var body = Assert.Single(_chatRequests);
        Assert.Equal("llama-3.2-3b-instruct", (string?)body["model"]);
        Assert.True((bool?)body["stream"]);
        var messages = body["messages"]!.AsArray();
        Assert.Equal("system", (string?)messages[0]!["role"]);
        Assert.Equal(EnhancementInstructions.TextModeInstructions, (string?)messages[0]!["content"]
            ?? (string?)messages[0]!["content"]![0]!["text"]);
    }

    [Fact]
    public async Task SendsTheImageAsADataUrlToVisionModels()
    {
        await using var scope = Enhancer();

        await CollectAsync(scope.Enhancer.EnhanceAsync(new("qwen2.5-vl-7b-instruct", null, EnhanceImage.FromBytes(PngBytes))));

        var content = Assert.Single(Assert.Single(_chatRequests)["messages"]!.AsArray())!["content"]!.AsArray();
        Assert.Equal(EnhancementInstructions.VisionModeInstructions, (string?)content[0]!["text"]);
        Assert.Equal($"data:image/png;base64,{Convert.ToBase64String(PngBytes)}", (string?)content[1]!["image_url"]!["url"]);
    }

    [Fact]
    public async Task AStalledServerTimesOutAndTheRequestIsDropped()
    {
        _stall = true;
        await using var scope = Enhancer(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        var tokens = new List<string>();

        var error = await Assert.ThrowsAsync<EnhancerException>(() => CollectAsync(scope.Enhancer.EnhanceAsync(new("llama-3.2-3b-instruct", "a fox")), tokens));

        Assert.Equal(EnhancerErrorKind.TimedOut, error.Kind);
        Assert.Equal(["A "], tokens);
        await _chatAborted.Task.WaitAsync(HangGuard);
    }

    [Fact]
    public async Task AnAbsentServerIsReportedWithHowToStartOne()
    {
        await using var services = Services(new Uri(LoopbackPorts.ClosedEndpoint(), "v1"), o => o.Provider = EnhancerProvider.OpenAI);

        var error = await Assert.ThrowsAsync<EnhancerException>(() => services.Enhancer().ListModelsAsync());

        Assert.Equal(EnhancerErrorKind.ServerUnavailable, error.Kind);
        Assert.Contains("llama-server", error.Message);
    }
}
