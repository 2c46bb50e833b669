using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.History;

/// <summary>
/// Rows that name a file outside the output folder, as an older version, a crafted import or a hand edit could have
/// written them: history neither serves nor deletes such a file, whichever way the path leads out.
/// </summary>
public sealed class OutputFolderContainmentTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly CancellationToken _ct = CancellationToken.None;
    private readonly string _outside;
    private readonly string _secret;

    public OutputFolderContainmentTests()
    {
        _outside = Path.Combine(_sandbox.Root, "elsewhere");
        Directory.CreateDirectory(_outside);
        Directory.CreateDirectory(_sandbox.OutputRoot);
        _secret = Path.Combine(_outside, "secret.png");
        File.WriteAllText(_secret, "not for the web");
    }

    public void Dispose() => _sandbox.Dispose();

    public static TheoryData<string> Escapes() => EscapingRows.Kinds();

    private string StoredPath(string escape) => EscapingRows.StoredPath(escape, _sandbox.OutputRoot, _secret);

    private async Task<long> InsertRowAsync(string outputFilename, string status = "saved")
    {
        await _sandbox.Database.MigrateAsync(_ct);
        return await EscapingRows.InsertAsync(((FluxStudio.App.Data.SqliteStudioDatabase)_sandbox.Database).Path, outputFilename, status);
    }

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task A_file_outside_the_output_folder_is_neither_listed_nor_served(string escape)
    {
        var id = await InsertRowAsync(StoredPath(escape));

        Assert.Null(await _sandbox.History.OpenImageAsync(id, _ct));
        Assert.Empty((await _sandbox.History.ListAsync(10, null, _ct)).Entries);
    }

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task Deleting_the_entry_removes_the_row_and_leaves_the_outside_file_alone(string escape)
    {
        var id = await InsertRowAsync(StoredPath(escape));

        var result = await _sandbox.History.DeleteAsync(id, _ct);

        Assert.True(result.Deleted);
        Assert.Contains("left in place", result.Message);
        Assert.Null(await _sandbox.History.GetAsync(id, _ct));
        Assert.Equal("not for the web", await File.ReadAllTextAsync(_secret, _ct));
    }

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task Start_up_repair_does_not_delete_outside_files_either(string escape)
    {
        await InsertRowAsync(StoredPath(escape), status: "deleting");
        File.WriteAllText(_secret + ".1234" + HistoryStore.TempSuffix, "partial");

        await _sandbox.History.ReconcileAsync(_ct);

        Assert.True(File.Exists(_secret));
        Assert.True(File.Exists(_secret + ".1234" + HistoryStore.TempSuffix));
    }

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task History_refuses_to_store_a_path_outside_the_output_folder(string escape)
    {
        var path = Path.GetFullPath(StoredPath(escape), _sandbox.OutputRoot);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _sandbox.History.AddAsync(new HistoryEntry
        {
            Timestamp = DateTimeOffset.UtcNow, Seed = 1, Prompt = "p", ModelAlias = "schnell", Steps = 4, Width = 64, Height = 64,
            ImagePath = path,
        }, _ct));
        Assert.Contains("inside the output folder", error.Message);
    }

    [Fact]
    public async Task A_file_inside_is_served_and_deleted_also_when_the_output_folder_is_itself_a_link()
    {
        using var linked = new StudioSandbox(Path.Combine(_sandbox.Root, "second"), o => o.OutputRoot = Path.Combine(_sandbox.Root, "pictures"));
        Directory.CreateSymbolicLink(Path.Combine(_sandbox.Root, "pictures"), _outside);
        var saved = await linked.SaveImageAsync("through a link");

        await using (var image = await linked.History.OpenImageAsync(saved.Id, _ct))
            Assert.NotNull(image);
        Assert.True((await linked.History.DeleteAsync(saved.Id, _ct)).Deleted);
        Assert.Equal(["secret.png"], Directory.EnumerateFiles(_outside).Select(Path.GetFileName));
    }

    [Fact]
    public void A_loop_of_links_leads_nowhere()
    {
        var a = Path.Combine(_sandbox.OutputRoot, "a");
        var b = Path.Combine(_sandbox.OutputRoot, "b");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);

        Assert.Null(ConfinedFolder.RealPath(a));
        Assert.False(new ConfinedFolder(_sandbox.OutputRoot).Contains(a));
    }
}
