namespace FluxStudio.Cli.Tests;

/// <summary>A command line that does not parse is invalid input: exit code 2, the error and one usage line, not the whole help.</summary>
public sealed class CommandLineErrorsTests
{
    [Theory]
    [InlineData("'--widht'", "fluxstudio generate [options]", "generate", "--prompt", "a fox", "--widht", "512")]
    [InlineData("'x' for option '--limit'", "fluxstudio history list [options]", "history", "list", "--limit", "x")]
    [InlineData("Required argument 'id'", "fluxstudio history delete <id> [options]", "history", "delete")]
    [InlineData("'no-such-command'", "fluxstudio [command] [options]", "no-such-command")]
    public async Task AnUnparsableCommandLineExitsWithTwoAndOneUsageLine(string error, string usage, params string[] arguments)
    {
        var result = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(error, result.StandardError);
        var usageLines = result.StandardError.Split('\n').Where(line => line.StartsWith("Usage", StringComparison.Ordinal)).ToList();
        Assert.StartsWith($"Usage: {usage}", Assert.Single(usageLines));
        Assert.DoesNotContain("Options:", result.StandardError);
        Assert.Empty(result.StandardOutput);
    }

    [Fact]
    public async Task AMissingPromptFileIsInvalidInput()
    {
        var missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "prompt.txt");

        var result = await CliProcess.RunAsync("generate", "--prompt-file", missing, "--path", "/no/such/model");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(missing, result.StandardError);
        Assert.Single(result.StandardError.Split('\n'), line => line.StartsWith("Usage: fluxstudio generate", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", result.StandardError);
    }
}
