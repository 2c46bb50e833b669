using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.History;

/// <summary>
/// A crash is simulated by throwing <see cref="SimulatedCrashException"/> at a named point, which skips the
/// in-process clean-up as a killed process would; a fresh set of services over the same folder then starts
/// up and reconciles.
/// </summary>
public sealed class ReconciliationTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _sandbox.Dispose();

    public static TheoryData<string, bool> SavePoints => new()
    {
        // point, whether the image survives (its PNG was complete on disk)
        { "save:row-added", false },
        { "save:metadata-temp-written", false },
        { "save:metadata-written", false },
        { "save:canny-temp-written", false },
        { "save:canny-written", false },
        { "save:image-temp-written", false },
        { "save:image-written", true },
    };

    [Theory]
    [MemberData(nameof(SavePoints))]
    public async Task A_crash_during_save_leaves_no_row_without_file_and_no_file_without_row(string point, bool survives)
    {
        var kept = await _sandbox.SaveImageAsync("an earlier image", seed: 1, metadata: true);
        _sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        _sandbox.History.CrashPoints.Hook = p => { if (p == point) throw new SimulatedCrashException(p); };

        await Assert.ThrowsAsync<SimulatedCrashException>(() => _sandbox.SaveAsync(GuidedRequest("the crashing save", seed: 2)));

        using var restarted = _sandbox.Restart();
        var report = await restarted.History.ReconcileAsync(_ct);

        Assert.True(report.Changed);
        await AssertConsistentAsync(restarted);
        var prompts = (await restarted.History.ListAsync(10, null, _ct)).Entries.Select(e => e.Prompt).ToList();
        Assert.Equal(survives ? ["the crashing save", "an earlier image"] : ["an earlier image"], prompts);
        Assert.True(File.Exists(kept.ImagePath));
        Assert.True(File.Exists(kept.MetadataPath));
        Assert.False((await restarted.History.ReconcileAsync(_ct)).Changed);
    }

    [Theory]
    [InlineData("delete:marked")]
    [InlineData("delete:image-deleted")]
    [InlineData("delete:files-deleted")]
    public async Task A_crash_during_delete_is_finished_at_start_up(string point)
    {
        var kept = await _sandbox.SaveImageAsync("stays", seed: 1, metadata: true);
        var doomed = await _sandbox.SaveAsync(GuidedRequest("goes", seed: 2));
        _sandbox.History.CrashPoints.Hook = p => { if (p == point) throw new SimulatedCrashException(p); };

        await Assert.ThrowsAsync<SimulatedCrashException>(() => _sandbox.History.DeleteAsync(doomed.Id, _ct));
        // Until reconciled, a half-deleted image is not offered to the user.
        Assert.Null(await _sandbox.History.GetAsync(doomed.Id, _ct));

        using var restarted = _sandbox.Restart();
        var report = await restarted.History.ReconcileAsync(_ct);

        Assert.Equal(1, report.DeletesFinished);
        await AssertConsistentAsync(restarted);
        Assert.False(File.Exists(doomed.ImagePath));
        Assert.False(File.Exists(doomed.MetadataPath));
        Assert.False(File.Exists(doomed.ControlNetCannyPath));
        Assert.Equal(["stays"], (await restarted.History.ListAsync(10, null, _ct)).Entries.Select(e => e.Prompt));
        Assert.True(File.Exists(kept.ImagePath));
    }

    [Fact]
    public async Task A_failed_save_cleans_up_at_once_without_waiting_for_a_restart()
    {
        // The sidecar is already in place when writing the PNG fails (a full disk, say).
        var request = TestRequests.Small() with { Metadata = true };
        _sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == "save:image-temp-written")
                throw new IOException("disk full");
        };

        await Assert.ThrowsAsync<IOException>(() => _sandbox.SaveAsync(request));

        Assert.Empty((await _sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.Empty(Directory.EnumerateFiles(_sandbox.OutputRoot));
        Assert.False((await _sandbox.History.ReconcileAsync(_ct)).Changed);
    }

    [Theory]
    [InlineData("save:metadata-written", false)]
    [InlineData("save:image-written", true)]
    public async Task A_save_raced_by_another_process_repair_stays_consistent(string point, bool survives)
    {
        // Another process reconciles while this one is mid-save (the data-folder lock normally prevents it).
        using var other = _sandbox.Restart();
        _sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == point)
                other.History.ReconcileAsync(_ct).GetAwaiter().GetResult();
        };

        var save = _sandbox.SaveImageAsync("raced", metadata: true);
        if (survives)
            await save;
        else
            Assert.Contains("Generate it again", (await Assert.ThrowsAsync<IOException>(() => save)).Message);

        await AssertConsistentAsync(_sandbox);
        Assert.Equal(survives ? 2 : 0, Directory.EnumerateFiles(_sandbox.OutputRoot).Count());
    }

    [Fact]
    public void Only_one_process_at_a_time_holds_the_data_folder()
    {
        using (var first = DataFolderLock.TryAcquire(_sandbox.Root))
        {
            Assert.NotNull(first);
            Assert.Null(DataFolderLock.TryAcquire(_sandbox.Root));
        }
        using var again = DataFolderLock.TryAcquire(_sandbox.Root);
        Assert.NotNull(again);
    }

    /// <summary>A save with every file an image can have: the PNG, the sidecar and a ControlNet's edge map.</summary>
    private static App.Generation.GenerationRequest GuidedRequest(string prompt, long seed) =>
        TestRequests.Small(prompt) with { Seed = seed, Metadata = true, ControlNetImagePath = "/pictures/reference.png" };

    /// <summary>Every row has its PNG (and sidecar and edge map), every file has its row, and no temporary file is left.</summary>
    private async Task AssertConsistentAsync(StudioSandbox sandbox)
    {
        var entries = (await sandbox.History.ListAsync(1000, null, _ct)).Entries;
        foreach (var entry in entries)
        {
            Assert.True(File.Exists(entry.ImagePath), $"row {entry.Id} has no image");
            if (entry.MetadataPath is not null)
                Assert.True(File.Exists(entry.MetadataPath), $"row {entry.Id} has no sidecar");
            if (entry.ControlNetCannyPath is not null)
                Assert.True(File.Exists(entry.ControlNetCannyPath), $"row {entry.Id} has no edge map");
        }
        var owned = entries.SelectMany(e => new[] { e.ImagePath, e.MetadataPath, e.ControlNetCannyPath }).OfType<string>().ToHashSet();
        var onDisk = Directory.EnumerateFiles(sandbox.OutputRoot).ToList();
        Assert.All(onDisk, file => Assert.Contains(file, owned));
        Assert.DoesNotContain(onDisk, f => f.EndsWith(HistoryStore.TempSuffix, StringComparison.Ordinal));
        // No row hides in a half-done state either.
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={sandbox.Database.Path}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM images WHERE status <> 'saved'";
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }
}
