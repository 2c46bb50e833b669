using FluxStudio.Engine.Tests;
using FluxStudio.App.Enhancement;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

public sealed class EnhanceFailureTests
{
    /// <summary>Runs an enhancement that must fail; what arrived before the failure is collected into <paramref name="tokens"/>.</summary>
    private static Task<EnhancerException> EnhanceFailsAsync(ServiceProvider services, EnhanceRequest request, List<string>? tokens = null) =>
        Assert.ThrowsAsync<EnhancerException>(() => CollectAsync(services.Enhancer().EnhanceAsync(request), tokens));

    [Theory]
    [InlineData(null, "a fox", false, "Choose a model")]
    [InlineData("  ", "a fox", false, "Choose a model")]
    [InlineData("llama3.2:latest", "", false, "Type an idea to enhance, or give an image")]
    [InlineData("llava:7b", null, false, "Type an idea to enhance, or give an image")]
    [InlineData("llava:7b", "a fox", false, "'llava:7b' is a vision model: give it an image")]
    [InlineData("llama3.2:latest", "a fox", true, "'llama3.2:latest' cannot see images")]
    public async Task IncompleteRequestsAreRefusedWithAMessageAndNothingIsSent(string? model, string? text, bool withImage, string expected)
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);
        var request = new EnhanceRequest(model, text, withImage ? EnhanceImage.FromBytes(PngBytes) : null);

        var error = await EnhanceFailsAsync(services, request);

        Assert.Equal(EnhancerErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(expected, error.Message);
        Assert.Empty(ollama.ChatRequests);
    }

    [Fact]
    public async Task OllamaAbsentIsReportedWithHowToStartIt()
    {
        var nowhere = LoopbackPorts.ClosedEndpoint();
        await using var services = Services(nowhere);

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"));
        var status = await services.Enhancer().GetStatusAsync();

        Assert.Equal(EnhancerErrorKind.ServerUnavailable, error.Kind);
        Assert.Contains($"Ollama is not running at http://127.0.0.1:{nowhere.Port}. Start it with `ollama serve`", error.Message);
        Assert.Contains("ollama serve", error.Message);
        Assert.False(status.IsUsable);
        Assert.Equal(error.Message, status.Problem);
    }

    [Fact]
    public async Task AModelTheServerDoesNotListIsRefusedWithTheInstalledOnes()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        var error = await EnhanceFailsAsync(services, new("mistral", "a fox"));

        Assert.Equal(EnhancerErrorKind.UnknownModel, error.Kind);
        Assert.Contains("ollama pull mistral", error.Message);
        Assert.Contains("llama3.2:latest, llava:7b", error.Message);
        Assert.Empty(ollama.ChatRequests);
    }

    [Fact]
    public async Task AModelOllamaNoLongerHasIsReportedAsUnknown()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        // Listed a moment ago, removed since: Ollama's chat answers 404 with its error object.
        ollama.Chat = async (context, request) =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsJsonAsync(new { error = $"model '{request["model"]}' not found" });
        };
        await using var services = Services(ollama.Endpoint);

        var error = await EnhanceFailsAsync(services, new("llama3.2:latest", "a fox"));

        Assert.Equal(EnhancerErrorKind.UnknownModel, error.Kind);
        Assert.Contains("does not have the model 'llama3.2:latest'", error.Message);
        Assert.Contains("ollama pull llama3.2:latest", error.Message);
    }

    [Fact]
    public async Task TheServerClosingMidStreamKeepsThePartialTextAndSaysSo()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        var clientHasTwoTokens = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "red "));
            // A reset drops whatever the client has not read yet, so wait until it has read both pieces.
            await clientHasTwoTokens.Task.WaitAsync(HangGuard);
            context.Abort();
        };
        await using var services = Services(ollama.Endpoint);
        var tokens = new List<string>();

        var error = await Assert.ThrowsAsync<EnhancerException>(async () =>
        {
            await foreach (var token in services.Enhancer().EnhanceAsync(new("llama3.2", "a fox")))
            {
                tokens.Add(token);
                if (tokens.Count == 2)
                    clientHasTwoTokens.TrySetResult();
            }
        });

        Assert.Equal(["A ", "red "], tokens);
        Assert.Equal(EnhancerErrorKind.Interrupted, error.Kind);
        Assert.Contains("partial text is kept", error.Message);
    }

    [Fact]
    public async Task TheServerClosingBeforeTheFirstPieceIsAnInterruption()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, _) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await context.Response.Body.FlushAsync();
            context.Abort();
        };
        await using var services = Services(ollama.Endpoint);

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"));

        Assert.Equal(EnhancerErrorKind.Interrupted, error.Kind);
        Assert.Contains("before the answer was complete", error.Message);
        Assert.DoesNotContain("partial text", error.Message);
    }

    [Fact]
    public async Task AStreamThatEndsWithoutTheDoneLineIsIncomplete()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
            // Ollama writes an error object as the last line when the model fails after streaming began.
            await FakeOllamaServer.WriteLineAsync(context, new { error = "an error was encountered while running the model" });
        };
        await using var services = Services(ollama.Endpoint);
        var tokens = new List<string>();

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"), tokens);

        Assert.Equal(["A "], tokens);
        Assert.Equal(EnhancerErrorKind.Interrupted, error.Kind);
    }

    [Fact]
    public async Task ANonJsonModelListIsReportedAsTheWrongServer()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Tags = context =>
        {
            context.Response.ContentType = "text/html";
            return context.Response.WriteAsync("<html><body>Welcome to nginx!</body></html>");
        };
        await using var services = Services(ollama.Endpoint);

        var error = await Assert.ThrowsAsync<EnhancerException>(() => services.Enhancer().ListModelsAsync());

        Assert.Equal(EnhancerErrorKind.BadReply, error.Kind);
        Assert.Contains("not its API's JSON", error.Message);
        Assert.Contains("is this really Ollama?", error.Message);
    }

    [Fact]
    public async Task ANonJsonChatReplyIsReportedAsTheWrongServer()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, _) =>
        {
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("this is not json\n");
        };
        await using var services = Services(ollama.Endpoint);

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"));

        Assert.Equal(EnhancerErrorKind.BadReply, error.Kind);
    }

    [Fact]
    public async Task AnErrorStatusIsReportedWithTheStatus()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, _) =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsJsonAsync(new { error = "llama runner process has terminated" });
        };
        await using var services = Services(ollama.Endpoint);

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"));

        Assert.Equal(EnhancerErrorKind.BadReply, error.Kind);
        Assert.Contains("HTTP 500", error.Message);
    }

    [Fact]
    public async Task ASilentServerTimesOutAndTheRequestIsDropped()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = (context, _) => Task.Delay(Timeout.Infinite, context.RequestAborted);
        // Long enough for the request to reach the server on a busy machine, short enough to keep the test quick.
        await using var services = Services(ollama.Endpoint, o => o.ResponseTimeout = TimeSpan.FromSeconds(5));

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"));

        Assert.Equal(EnhancerErrorKind.TimedOut, error.Kind);
        Assert.Contains("sent nothing for 5 s", error.Message);
        await ollama.ChatAborted.Task.WaitAsync(HangGuard);
    }

    [Fact]
    public async Task AServerThatStallsMidAnswerTimesOutKeepingThePartialText()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        };
        // Long enough for the first piece to arrive on a busy machine, short enough to keep the test quick.
        await using var services = Services(ollama.Endpoint, o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        var tokens = new List<string>();

        var error = await EnhanceFailsAsync(services, new("llama3.2", "a fox"), tokens);

        Assert.Equal(["A "], tokens);
        Assert.Equal(EnhancerErrorKind.TimedOut, error.Kind);
        Assert.Contains("in the middle of the answer", error.Message);
    }

    [Fact]
    public async Task ASilentModelListTimesOut()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Tags = context => Task.Delay(Timeout.Infinite, context.RequestAborted);
        await using var services = Services(ollama.Endpoint, o => o.ModelListTimeout = TimeSpan.FromMilliseconds(300));

        var error = await Assert.ThrowsAsync<EnhancerException>(() => services.Enhancer().ListModelsAsync());

        Assert.Equal(EnhancerErrorKind.TimedOut, error.Kind);
        Assert.Contains("did not list its models within 0.3 s", error.Message);
    }

    [Theory]
    [InlineData("localhost:11434")]
    [InlineData("ftp://127.0.0.1:11434")]
    [InlineData("")]
    public async Task AnEndpointThatIsNotAnHttpAddressIsRefused(string endpoint)
    {
        await using var services = Services(new Uri("http://127.0.0.1:1"), o => o.Endpoint = endpoint);

        var error = await Assert.ThrowsAsync<EnhancerException>(() => services.Enhancer().ListModelsAsync());

        Assert.Equal(EnhancerErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("is not an http:// or https:// address", error.Message);
    }
}
