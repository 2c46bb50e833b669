using FluxStudio.App;
using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace FluxStudio.Cli.Tests;

public sealed class HistoryCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "fluxstudio-cli-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<HistoryEntry> AddImageAsync(string prompt, long seed)
    {
        var options = Options.Create(new StudioOptions { DataRoot = _root });
        var store = new HistoryStore(new SqliteStudioDatabase(options), options);
        var path = Path.Combine(options.Value.ResolveOutputRoot(), $"20250101_120000_{seed}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, [137, 80, 78, 71]);
        return await store.AddAsync(new HistoryEntry
        {
            Timestamp = DateTimeOffset.UtcNow, Seed = seed, Prompt = prompt, ModelAlias = "schnell", Steps = 4,
            Width = 512, Height = 512, ImagePath = path,
        }, CancellationToken.None);
    }

    [Fact]
    public async Task List_show_search_and_delete_work_on_the_data_folder()
    {
        var fox = await AddImageAsync("a red fox in the snow", 11);
        await AddImageAsync("a blue whale", 12);

        var list = await CliProcess.RunAsync("history", "list", "--data-root", _root);
        var search = await CliProcess.RunAsync("history", "list", "--search", "fox", "--data-root", _root);
        var show = await CliProcess.RunAsync("history", "show", fox.Id.ToString(), "--data-root", _root);
        var delete = await CliProcess.RunAsync("history", "delete", fox.Id.ToString(), "--data-root", _root);
        var showDeleted = await CliProcess.RunAsync("history", "show", fox.Id.ToString(), "--data-root", _root);

        Assert.Equal(0, list.ExitCode);
        Assert.Contains("a red fox in the snow", list.StandardOutput);
        Assert.Contains("a blue whale", list.StandardOutput);
        Assert.Contains("a red fox", search.StandardOutput);
        Assert.DoesNotContain("whale", search.StandardOutput);
        Assert.Contains("Seed: 11", show.StandardOutput);
        Assert.Contains("Prompt: a red fox in the snow", show.StandardOutput);
        Assert.Equal(0, delete.ExitCode);
        Assert.False(File.Exists(fox.ImagePath));
        Assert.Equal(1, showDeleted.ExitCode);
        Assert.Contains($"There is no image {fox.Id}", showDeleted.StandardError);
    }

    [Theory]
    [InlineData(EscapingRows.Absolute)]
    [InlineData(EscapingRows.DotDot)]
    [InlineData(EscapingRows.FileLink)]
    public async Task Delete_leaves_a_file_outside_the_output_folder_alone(string escape)
    {
        await AddImageAsync("makes the database", 1);
        var outputRoot = new StudioOptions { DataRoot = _root }.ResolveOutputRoot();
        var secret = Path.Combine(_root, "elsewhere", "secret.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(secret)!);
        await File.WriteAllTextAsync(secret, "keep me");
        var id = await EscapingRows.InsertAsync(Path.Combine(_root, "fluxstudio.db"), EscapingRows.StoredPath(escape, outputRoot, secret));

        var delete = await CliProcess.RunAsync("history", "delete", id.ToString(), "--data-root", _root);

        Assert.Equal(0, delete.ExitCode);
        Assert.Contains("left in place", delete.StandardOutput);
        Assert.Equal("keep me", await File.ReadAllTextAsync(secret));
    }

    [Theory]
    [InlineData(DamagedDatabases.NotADatabase, "list")]
    [InlineData(DamagedDatabases.BrokenPages, "list")]
    [InlineData(DamagedDatabases.BrokenPages, "list", "--search", "lighthouse")]
    public async Task A_damaged_database_is_named_with_what_to_do_and_left_as_it_is(string kind, params string[] command)
    {
        var database = await DamagedDatabases.WriteAsync(_root, kind);
        var before = await File.ReadAllBytesAsync(database);

        var result = await CliProcess.RunAsync(["history", .. command, "--data-root", _root]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"The database {database} is damaged", result.StandardError);
        Assert.Contains("restore it from a backup, or move it away", result.StandardError);
        Assert.Single(result.StandardError.Trim().Split('\n'));
        Assert.Equal(before, await File.ReadAllBytesAsync(database));
    }

    [Fact]
    public async Task Importing_something_that_is_not_the_original_history_fails_with_a_message()
    {
        Directory.CreateDirectory(_root);
        var result = await CliProcess.RunAsync("history", "import", Path.Combine(_root, "missing.db"), "--data-root", _root);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("generated_images.db", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }
}
