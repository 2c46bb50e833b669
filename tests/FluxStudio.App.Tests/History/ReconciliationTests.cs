using FluxStudio.App.Data;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.History;

/// <summary>
/// A crash is simulated by throwing <see cref="SimulatedCrashException"/> at a named point, which skips the
/// in-process clean-up as a killed process would; a fresh set of services over the same folder then starts
/// up and reconciles.
/// </summary>
public sealed class ReconciliationTests
{
    private readonly CancellationToken _ct = CancellationToken.None;

    public static TheoryData<string, string, bool> SavePoints()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var provider in new[] { DatabaseOptions.Sqlite, DatabaseOptions.Postgres })
        {
            // point, whether the image survives (its PNG was complete on disk)
            data.Add(provider, "save:row-added", false);
            data.Add(provider, "save:metadata-temp-written", false);
            data.Add(provider, "save:metadata-written", false);
            data.Add(provider, "save:canny-temp-written", false);
            data.Add(provider, "save:canny-written", false);
            data.Add(provider, "save:image-temp-written", false);
            data.Add(provider, "save:image-written", true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SavePoints))]
    public async Task A_crash_during_save_leaves_no_row_without_file_and_no_file_without_row(string provider, string point, bool survives)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var kept = await sandbox.SaveImageAsync("an earlier image", seed: 1, metadata: true);
        sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        sandbox.History.CrashPoints.Hook = p => { if (p == point) throw new SimulatedCrashException(p); };

        await Assert.ThrowsAsync<SimulatedCrashException>(() => sandbox.SaveAsync(GuidedRequest("the crashing save", seed: 2)));

        using var restarted = sandbox.Restart();
        // With a shared database, a save no job owns counts as abandoned once it is older than any save takes.
        if (restarted.Database.IsShared)
        {
            Assert.False((await restarted.History.ReconcileAsync(_ct)).Changed);
            restarted.Time.Advance(HistoryStore.SharedSaveGrace + TimeSpan.FromSeconds(1));
        }
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
    [InlineData(DatabaseOptions.Sqlite, "delete:marked")]
    [InlineData(DatabaseOptions.Sqlite, "delete:image-deleted")]
    [InlineData(DatabaseOptions.Sqlite, "delete:files-deleted")]
    [InlineData(DatabaseOptions.Postgres, "delete:marked")]
    [InlineData(DatabaseOptions.Postgres, "delete:image-deleted")]
    [InlineData(DatabaseOptions.Postgres, "delete:files-deleted")]
    public async Task A_crash_during_delete_is_finished_at_start_up(string provider, string point)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var kept = await sandbox.SaveImageAsync("stays", seed: 1, metadata: true);
        var doomed = await sandbox.SaveAsync(GuidedRequest("goes", seed: 2));
        sandbox.History.CrashPoints.Hook = p => { if (p == point) throw new SimulatedCrashException(p); };

        await Assert.ThrowsAsync<SimulatedCrashException>(() => sandbox.History.DeleteAsync(doomed.Id, _ct));
        // Until reconciled, a half-deleted image is not offered to the user.
        Assert.Null(await sandbox.History.GetAsync(doomed.Id, _ct));

        using var restarted = sandbox.Restart();
        var report = await restarted.History.ReconcileAsync(_ct);

        Assert.Equal(1, report.DeletesFinished);
        await AssertConsistentAsync(restarted);
        Assert.False(File.Exists(doomed.ImagePath));
        Assert.False(File.Exists(doomed.MetadataPath));
        Assert.False(File.Exists(doomed.ControlNetCannyPath));
        Assert.Equal(["stays"], (await restarted.History.ListAsync(10, null, _ct)).Entries.Select(e => e.Prompt));
        Assert.True(File.Exists(kept.ImagePath));
    }

    [Theory, BothDatabases]
    public async Task A_failed_save_cleans_up_at_once_without_waiting_for_a_restart(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        // The sidecar is already in place when writing the PNG fails (a full disk, say).
        var request = TestRequests.Small() with { Metadata = true };
        sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == "save:image-temp-written")
                throw new IOException("disk full");
        };

        await Assert.ThrowsAsync<IOException>(() => sandbox.SaveAsync(request));

        Assert.Empty((await sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.Empty(Directory.EnumerateFiles(sandbox.OutputRoot));
        Assert.False((await sandbox.History.ReconcileAsync(_ct)).Changed);
    }

    [Theory]
    [InlineData(DatabaseOptions.Sqlite, "save:metadata-written", false)]
    [InlineData(DatabaseOptions.Sqlite, "save:image-written", true)]
    [InlineData(DatabaseOptions.Postgres, "save:metadata-written", true)]
    [InlineData(DatabaseOptions.Postgres, "save:image-written", true)]
    public async Task A_save_raced_by_another_process_repair_stays_consistent(string provider, string point, bool survives)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        // Another process reconciles while this one is mid-save: on one machine the data-folder lock normally prevents
        // it; with a shared database it is every day, and a young save is left to its writer.
        using var other = sandbox.Restart();
        sandbox.History.CrashPoints.Hook = p =>
        {
            if (p == point)
                other.History.ReconcileAsync(_ct).GetAwaiter().GetResult();
        };

        var save = sandbox.SaveImageAsync("raced", metadata: true);
        if (survives)
            await save;
        else
            Assert.Contains("Generate it again", (await Assert.ThrowsAsync<IOException>(() => save)).Message);

        await AssertConsistentAsync(sandbox);
        Assert.Equal(survives ? 2 : 0, Directory.EnumerateFiles(sandbox.OutputRoot).Count());
    }

    [Fact]
    public void Only_one_process_at_a_time_holds_the_data_folder()
    {
        using var sandbox = new StudioSandbox();
        using (var first = DataFolderLock.TryAcquire(sandbox.Root))
        {
            Assert.NotNull(first);
            Assert.Null(DataFolderLock.TryAcquire(sandbox.Root));
        }
        using var again = DataFolderLock.TryAcquire(sandbox.Root);
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
        Assert.Equal(0, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM images WHERE status <> 'saved'"));
    }
}
