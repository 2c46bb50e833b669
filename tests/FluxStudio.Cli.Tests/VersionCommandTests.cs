namespace FluxStudio.Cli.Tests;

public sealed class VersionCommandTests
{
    [Fact]
    public async Task PrintsTheProductVersion()
    {
        var result = await CliProcess.RunAsync("version");
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^FluxStudio \d+\.\d+\.\d+\s*$", result.StandardOutput);
    }

    [Fact]
    public async Task AnUnknownCommandFailsWithAMessage()
    {
        var result = await CliProcess.RunAsync("no-such-command");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no-such-command", result.StandardError);
    }
}
