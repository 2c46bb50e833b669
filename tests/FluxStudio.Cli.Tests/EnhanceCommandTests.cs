using FluxStudio.Engine.Tests;
using System.Diagnostics;
using System.Text;
using FluxStudio.App.Tests.Enhancement;

namespace FluxStudio.Cli.Tests;

/// <summary>The real <c>fluxstudio enhance</c> in a child process, against a loopback server that speaks Ollama's API.</summary>
public sealed class EnhanceCommandTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    private static readonly byte[] PngBytes =
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01];

    [Fact]
    public async Task PrintsTheEnhancedPromptAndExitsZero()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();

        var result = await CliProcess.RunAsync("enhance", "a fox in the snow", "--model", "llama3.2", "--endpoint", ollama.Endpoint.ToString());

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("A red fox in fresh snow." + Environment.NewLine, result.StandardOutput);
        Assert.Equal("", result.StandardError);
        var body = Assert.Single(ollama.ChatRequests);
        Assert.Equal("llama3.2:latest", (string?)body["model"]);
        Assert.Equal("Idea: a fox in the snow", (string?)body["messages"]![1]!["content"]);
    }

    [Fact]
    public async Task SendsTheImageFileToAVisionModel()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        var image = Path.Combine(Path.GetTempPath(), $"enhance-cli-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(image, PngBytes);
        try
        {
            var result = await CliProcess.RunAsync("enhance", "--model", "llava:7b", "--image", image, "--endpoint", ollama.Endpoint.ToString());

            Assert.Equal(0, result.ExitCode);
            Assert.Equal("A red fox in fresh snow." + Environment.NewLine, result.StandardOutput);
            var message = Assert.Single(Assert.Single(ollama.ChatRequests)["messages"]!.AsArray())!;
            Assert.Equal(Convert.ToBase64String(PngBytes), (string?)message["images"]![0]);
        }
        finally
        {
            File.Delete(image);
        }
    }

    [Fact]
    public async Task PrintsEachPieceAsItArrives()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        var firstPiecePrinted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restSentBeforeFirstPiecePrinted = false;
        ollama.Chat = (context, request) => ollama.StreamReplyAsync(context, request, ollama.Reply, async index =>
        {
            if (index != 1)
                return;
            try { await firstPiecePrinted.Task.WaitAsync(HangGuard); }
            catch (TimeoutException) { restSentBeforeFirstPiecePrinted = true; }
        });
        await using var cli = RunningCli.Start("enhance", "a fox", "--model", "llama3.2:latest", "--endpoint", ollama.Endpoint.ToString());

        await cli.WaitForOutputAsync("A ");
        firstPiecePrinted.SetResult();
        var exitCode = await cli.WaitForExitAsync();

        Assert.False(restSentBeforeFirstPiecePrinted);
        Assert.Equal(0, exitCode);
        Assert.Equal("A red fox in fresh snow." + Environment.NewLine, cli.Output);
    }

    [Fact]
    public async Task CtrlCStopsTheAnswerAndTheServersWork()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Chat = async (context, request) =>
        {
            FakeOllamaServer.StartNdjson(context);
            await FakeOllamaServer.WriteLineAsync(context, FakeOllamaServer.ContentLine(request, "A "));
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        };
        await using var cli = RunningCli.Start("enhance", "a fox", "--model", "llama3.2:latest", "--endpoint", ollama.Endpoint.ToString());

        await cli.WaitForOutputAsync("A ");
        cli.Interrupt();
        var exitCode = await cli.WaitForExitAsync();

        Assert.Equal(130, exitCode);
        Assert.StartsWith("A ", cli.Output);
        Assert.Contains("Cancelled.", cli.Error);
        await ollama.ChatAborted.Task.WaitAsync(HangGuard);
    }

    [Fact]
    public async Task SaysHowToStartOllamaWhenItIsNotRunning()
    {
        var result = await CliProcess.RunAsync("enhance", "a fox", "--model", "llama3.2", "--endpoint", LoopbackPorts.ClosedEndpoint().ToString());

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.StandardOutput);
        Assert.Contains("Ollama is not running at", result.StandardError);
        Assert.Contains("ollama serve", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }

    [Theory]
    [InlineData("Choose a model with --model NAME", "enhance", "a fox")]
    [InlineData("'llava:7b' is a vision model: give it an image", "enhance", "a fox", "--model", "llava:7b")]
    [InlineData("Type an idea to enhance, or give an image", "enhance", "--model", "llama3.2")]
    [InlineData("Image file not found", "enhance", "--model", "llava:7b", "--image", "/no/such/picture.png")]
    public async Task RefusesIncompleteInputWithExitCodeTwo(string expected, params string[] arguments)
    {
        await using var ollama = await FakeOllamaServer.StartAsync();

        var result = await CliProcess.RunAsync([.. arguments, "--endpoint", ollama.Endpoint.ToString()]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.StandardError);
        Assert.Empty(ollama.ChatRequests);
    }

    [Fact]
    public async Task ListsTheModelsWithTheirKind()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();

        var result = await CliProcess.RunAsync("enhance", "--list-models", "--endpoint", ollama.Endpoint.ToString());

        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"llama3.2:latest\ttext{Environment.NewLine}llava:7b\tvision{Environment.NewLine}", result.StandardOutput);
    }

    [Fact]
    public async Task RefusesAnUnknownProvider()
    {
        var result = await CliProcess.RunAsync("enhance", "a fox", "--model", "x", "--provider", "gemini");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("gemini", result.StandardError);
    }

    /// <summary>The CLI in a child process whose output can be watched while it runs.</summary>
    private sealed class RunningCli : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly StringBuilder _error = new();
        private readonly Task _readOutput;
        private readonly Task _readError;

        private RunningCli(Process process)
        {
            _process = process;
            _readOutput = PumpAsync(process.StandardOutput, _output);
            _readError = PumpAsync(process.StandardError, _error);
        }

        public string Output { get { lock (_output) return _output.ToString(); } }
        public string Error { get { lock (_error) return _error.ToString(); } }

        public static RunningCli Start(params string[] arguments) => new(CliProcess.Start(arguments));

        private static async Task PumpAsync(StreamReader reader, StringBuilder into)
        {
            var buffer = new char[256];
            int read;
            while ((read = await reader.ReadAsync(buffer)) > 0)
                lock (into) into.Append(buffer, 0, read);
        }

        public async Task WaitForOutputAsync(string expected)
        {
            using var guard = new CancellationTokenSource(HangGuard);
            while (!Output.Contains(expected))
            {
                Assert.False(_process.HasExited && _readOutput.IsCompleted, $"fluxstudio exited before printing '{expected}': {Error}");
                await Task.Delay(20, guard.Token);
            }
        }

        /// <summary>What Ctrl+C does in a terminal.</summary>
        public void Interrupt()
        {
            using var kill = Process.Start("kill", ["-INT", _process.Id.ToString()])!;
            kill.WaitForExit();
        }

        public async Task<int> WaitForExitAsync()
        {
            using var guard = new CancellationTokenSource(HangGuard);
            try
            {
                await _process.WaitForExitAsync(guard.Token);
            }
            catch (OperationCanceledException)
            {
                // Said in full, so that a hang seen once on a loaded machine tells how far the CLI got.
                Assert.Fail($"fluxstudio was still running after {HangGuard.TotalSeconds} s. Output: '{Output}'. Error: '{Error}'.");
            }
            await Task.WhenAll(_readOutput, _readError);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
