using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Tests;

namespace FluxStudio.Cli.Tests;

/// <summary>
/// What keeps the server from starting is one sentence that says what to do, with exit code 1, whether it is started as
/// `fluxstudio serve` or as the web project itself (`dotnet run --project src/FluxStudio.Web`).
/// </summary>
public sealed class ServerStartupTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string> EntryPoints() => ["fluxstudio.dll", "FluxStudio.Web.dll"];

    private static Task<CliProcess.Result> StartServerAsync(string entryPoint, params string[] arguments) =>
        CliProcess.RunProgramAsync(entryPoint, new Dictionary<string, string> { ["FluxStudio__Web__AccessToken"] = "" },
            entryPoint == "fluxstudio.dll" ? ["serve", .. arguments] : arguments, limit: TimeSpan.FromMinutes(1));

    private static void AssertOneSentence(CliProcess.Result result, params string[] expected)
    {
        Assert.Equal(1, result.ExitCode);
        var error = result.StandardError.Trim();
        Assert.Single(error.Split('\n'));
        foreach (var text in expected)
            Assert.Contains(text, error);
        Assert.DoesNotContain("   at ", result.StandardOutput + result.StandardError);
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public async Task APortInUseIsNamedWithTheSettingToChange(string entryPoint)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var result = await StartServerAsync(entryPoint, "--urls", $"http://127.0.0.1:{port}", $"--FluxStudio:DataRoot={_folder.Path}");

        AssertOneSentence(result, $"Port {port} is already in use", "--urls");
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public async Task ADamagedDatabaseIsNamedAndLeftAsItIs(string entryPoint)
    {
        foreach (var kind in new[] { DamagedDatabases.NotADatabase, DamagedDatabases.BrokenPages })
        {
            var root = Path.Combine(_folder.Path, kind);
            var database = await DamagedDatabases.WriteAsync(root, kind);
            var before = SHA256.HashData(await File.ReadAllBytesAsync(database));

            var result = await StartServerAsync(entryPoint, "--urls", "http://127.0.0.1:0", $"--FluxStudio:DataRoot={root}");

            AssertOneSentence(result, database, "is damaged", "restore it from a backup, or move it away");
            Assert.Equal(before, SHA256.HashData(await File.ReadAllBytesAsync(database)));
        }
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public async Task ANetworkAddressWithoutAnAccessTokenIsRefused(string entryPoint)
    {
        var result = await StartServerAsync(entryPoint, "--urls", "http://0.0.0.0:0", $"--FluxStudio:DataRoot={_folder.Path}");

        AssertOneSentence(result, "FluxStudio:Web:AccessToken");
    }
}
