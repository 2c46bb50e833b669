using System.Diagnostics;

namespace FluxStudio.Cli.Tests;

/// <summary>
/// Runs the real `fluxstudio` program (or another program of the build output) in a child process. Unless a test names its own data root or settings folder
/// (<c>DOTNET_CONTENTROOT</c>), every run shares one data root in a temporary folder, so `generate` records its images
/// there and never in the user's own history.
/// </summary>
public static class CliProcess
{
    public const string DataRootVariable = "FluxStudio__DataRoot";

    private static readonly Lazy<string> SharedDataRoot = new(() =>
    {
        var root = Directory.CreateTempSubdirectory("fluxstudio-cli-data-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        return root;
    });

    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    public static Task<Result> RunAsync(params string[] arguments) => RunAsync(new Dictionary<string, string>(), arguments);

    /// <summary>Runs `fluxstudio` with <paramref name="environment"/> added to this process's environment.</summary>
    public static Task<Result> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        RunProgramAsync("fluxstudio.dll", environment, arguments);

    /// <summary>
    /// Runs <paramref name="program"/>, a .NET program next to the tests (<c>FluxStudio.Web.dll</c>), to its end; one
    /// still running after <paramref name="limit"/> (default 5 minutes, a hang guard) is killed and the test fails.
    /// </summary>
    public static async Task<Result> RunProgramAsync(string program, IReadOnlyDictionary<string, string> environment, string[] arguments,
        TimeSpan? limit = null)
    {
        using var process = Start(program, environment, arguments);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} was still running after {limit}; output: {await output}{await error}");
        }
        return new Result(process.ExitCode, await output, await error);
    }

    /// <summary>Starts `fluxstudio` with its output and error redirected and its input already closed.</summary>
    public static Process Start(params string[] arguments) => Start("fluxstudio.dll", new Dictionary<string, string>(), arguments);

    /// <summary>Starts `fluxstudio` with <paramref name="environment"/> added, its output and error redirected and its input closed.</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start("fluxstudio.dll", environment, arguments);

    private static Process Start(string program, IReadOnlyDictionary<string, string> environment, string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, program));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // A test that brings its own settings folder lets its appsettings.json decide the data root.
        if (environment.ContainsKey("DOTNET_CONTENTROOT"))
            start.Environment.Remove(DataRootVariable);
        else
            start.Environment[DataRootVariable] = SharedDataRoot.Value;
        foreach (var (name, value) in environment) start.Environment[name] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start fluxstudio");
        process.StandardInput.Close();
        return process;
    }
}
