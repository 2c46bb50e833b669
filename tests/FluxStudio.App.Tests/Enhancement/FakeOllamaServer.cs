using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Tests.Enhancement;

/// <summary>
/// A loopback server that speaks Ollama's API as documented: <c>/api/tags</c>, <c>/api/show</c> and streamed
/// <c>/api/chat</c> (NDJSON lines, the last one with <c>done: true</c> and <c>done_reason</c>). Tests replace
/// <see cref="Chat"/> or <see cref="Tags"/> to make it misbehave.
/// </summary>
public sealed class FakeOllamaServer : IAsyncDisposable
{
    /// <summary>A model as listed by /api/tags; null capabilities make /api/show fail for it.</summary>
    public sealed record Model(string Name, string[] Families, string[]? Capabilities);

    private readonly WebApplication _app;

    private FakeOllamaServer(WebApplication app)
    {
        _app = app;
        Chat = (context, request) => StreamReplyAsync(context, request, Reply);
        Tags = DefaultTagsAsync;
    }

    public Uri Endpoint { get; private set; } = null!;

    public List<Model> Models { get; } =
    [
        new("llama3.2:latest", ["llama"], ["completion", "tools"]),
        new("llava:7b", ["llama", "clip"], ["completion", "vision"]),
    ];

    /// <summary>The body of every /api/chat request, in order.</summary>
    public ConcurrentQueue<JsonNode> ChatRequests { get; } = new();

    /// <summary>Answers /api/chat; by default streams <see cref="Reply"/> word by word.</summary>
    public Func<HttpContext, JsonNode, Task> Chat { get; set; }

    /// <summary>Answers /api/tags; by default lists <see cref="Models"/>.</summary>
    public Func<HttpContext, Task> Tags { get; set; }

    public string[] Reply { get; set; } = ["A ", "red ", "fox ", "in ", "fresh ", "snow."];

    public int TagsRequestCount;

    /// <summary>Set when a chat request was aborted by the client.</summary>
    public TaskCompletionSource ChatAborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<FakeOllamaServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeOllamaServer(app);
        app.MapGet("/", () => "Ollama is running");
        app.MapGet("/api/tags", context => { Interlocked.Increment(ref server.TagsRequestCount); return server.Tags(context); });
        app.MapPost("/api/show", server.ShowAsync);
        app.MapPost("/api/chat", async context =>
        {
            var body = (await JsonNode.ParseAsync(context.Request.Body))!;
            server.ChatRequests.Enqueue(body);
            context.RequestAborted.Register(() => server.ChatAborted.TrySetResult());
            await server.Chat(context, body);
        });
        await app.StartAsync();
        server.Endpoint = new Uri(app.Urls.Single());
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public Task DefaultTagsAsync(HttpContext context) => context.Response.WriteAsJsonAsync(new
    {
        models = Models.Select(m => new
        {
            name = m.Name,
            model = m.Name,
            modified_at = "2025-05-04T17:37:44.706015396-07:00",
            size = 2019393189,
            digest = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            details = new
            {
                parent_model = "",
                format = "gguf",
                family = m.Families[0],
                families = m.Families,
                parameter_size = "3.2B",
                quantization_level = "Q4_K_M",
            },
        }),
    });

    private async Task ShowAsync(HttpContext context)
    {
        var body = (await JsonNode.ParseAsync(context.Request.Body))!;
        var name = (string?)body["model"] ?? (string?)body["name"];
        var model = Models.FirstOrDefault(m => m.Name == name);
        if (model is null)
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsJsonAsync(new { error = $"model '{name}' not found" });
            return;
        }
        if (model.Capabilities is null)
        {
            context.Response.StatusCode = 500;
            await context.Response.WriteAsJsonAsync(new { error = "failed to read the model's manifest" });
            return;
        }
        await context.Response.WriteAsJsonAsync(new
        {
            modelfile = $"FROM {model.Name}",
            parameters = "stop \"<|eot_id|>\"",
            template = "{{ .Prompt }}",
            details = new { parent_model = "", format = "gguf", family = model.Families[0], families = model.Families },
            model_info = new Dictionary<string, object> { ["general.architecture"] = model.Families[0] },
            capabilities = model.Capabilities,
            modified_at = "2025-05-04T17:37:44.706015396-07:00",
        });
    }

    /// <summary>Streams <see cref="Reply"/> as Ollama does, ending with the <c>done</c> line.</summary>
    public async Task StreamReplyAsync(HttpContext context, JsonNode request, IEnumerable<string> pieces, Func<int, Task>? beforePiece = null)
    {
        StartNdjson(context);
        var index = 0;
        foreach (var piece in pieces)
        {
            if (beforePiece is not null)
                await beforePiece(index);
            await WriteLineAsync(context, ContentLine(request, piece));
            index++;
        }
        await WriteLineAsync(context, DoneLine(request));
    }

    public static void StartNdjson(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/x-ndjson";
    }

    public static async Task WriteLineAsync(HttpContext context, object line)
    {
        await context.Response.WriteAsync(JsonSerializer.Serialize(line) + "\n");
        await context.Response.Body.FlushAsync();
    }

    public static object ContentLine(JsonNode request, string piece) => new
    {
        model = (string?)request["model"],
        created_at = "2025-05-04T17:40:01.123456789Z",
        message = new { role = "assistant", content = piece },
        done = false,
    };

    public static object DoneLine(JsonNode request) => new
    {
        model = (string?)request["model"],
        created_at = "2025-05-04T17:40:02.123456789Z",
        message = new { role = "assistant", content = "" },
        done = true,
        done_reason = "stop",
        total_duration = 4883583458L,
        load_duration = 1334875,
        prompt_eval_count = 26,
        prompt_eval_duration = 342546000,
        eval_count = 6,
        eval_duration = 4535599000L,
    };
}
