using FluxStudio.Engine.Tests;

namespace FluxStudio.Cli.Tests;

/// <summary>What `fluxstudio worker` says when it cannot work: one sentence that says what to set, never a stack trace.</summary>
public sealed class WorkerCommandTests
{
    [Fact]
    public async Task On_this_machine_s_SQLite_file_it_says_a_worker_needs_a_shared_PostgreSQL_database()
    {
        var result = await CliProcess.RunAsync("worker");

        Assert.Equal(ExitCodes.InvalidInput, result.ExitCode);
        Assert.Contains("FluxStudio__Database__Provider", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }

    [Fact]
    public async Task A_database_that_cannot_be_reached_is_named_with_what_to_check()
    {
        var port = LoopbackPorts.Free();

        var result = await CliProcess.RunAsync(new Dictionary<string, string>
        {
            ["FluxStudio__Database__Provider"] = "postgres",
            ["FluxStudio__Database__ConnectionString"] = $"Host=127.0.0.1;Port={port};Database=studio;Username=studio;Timeout=3",
        }, "worker");

        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.Contains($"studio on 127.0.0.1:{port}", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }
}
