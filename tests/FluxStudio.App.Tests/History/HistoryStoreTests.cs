using FluxStudio.Engine.Models;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.History;

public sealed class HistoryStoreTests
{
    private readonly CancellationToken _ct = CancellationToken.None;

    [Theory, BothDatabases]
    public async Task Add_then_get_returns_every_column(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var imagePath = Path.Combine(sandbox.OutputRoot, "existing.png");
        Directory.CreateDirectory(sandbox.OutputRoot);
        await File.WriteAllBytesAsync(imagePath, [1, 2, 3]);
        var added = await sandbox.History.AddAsync(new HistoryEntry
        {
            Timestamp = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            Seed = 1234567890123,
            Prompt = "a lighthouse at dusk",
            ModelAlias = "dev",
            Quantize = 8,
            Steps = 20,
            Guidance = 3.5,
            Height = 768,
            Width = 1024,
            ModelPath = "/models/flux-dev",
            ControlNetImagePath = "/in/edges.png",
            ControlNetStrength = 0.6,
            ControlNetSaveCanny = true,
            LoraPaths = ["/lora/a.safetensors", "/lora/b.safetensors"],
            LoraScales = [0.8, 1.2],
            ImagePath = imagePath,
            GenerationTimeSeconds = 12.5,
            Device = "cuda:0",
            Precision = "bfloat16",
        }, _ct);

        var loaded = await sandbox.History.GetAsync(added.Id, _ct);

        Assert.NotNull(loaded);
        Assert.Equal(added with { LoraPaths = loaded.LoraPaths, LoraScales = loaded.LoraScales }, loaded);
        Assert.Equal(["/lora/a.safetensors", "/lora/b.safetensors"], loaded.LoraPaths);
        Assert.Equal([0.8, 1.2], loaded.LoraScales);
        Assert.Equal(HistoryStatus.Saved, loaded.Status);
    }

    [Theory, BothDatabases]
    public async Task Image_paths_inside_the_output_root_are_stored_relative_so_the_data_folder_can_move(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var entry = await sandbox.SaveImageAsync("portable");

        Assert.Equal(Path.GetFileName(entry.ImagePath),
            await sandbox.QueryScalarAsync<string>("SELECT output_filename FROM images WHERE id = @id", new { id = entry.Id }));
    }

    [Theory, BothDatabases]
    public async Task List_is_newest_first_pages_by_cursor_and_leaves_out_images_whose_file_is_gone(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var saved = new List<HistoryEntry>();
        for (var i = 0; i < 7; i++)
        {
            saved.Add(await sandbox.SaveImageAsync($"image {i}", seed: i + 1));
            sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        }
        File.Delete(saved[5].ImagePath);
        File.Delete(saved[2].ImagePath);

        var first = await sandbox.History.ListAsync(3, null, _ct);
        var second = await sandbox.History.ListAsync(3, first.Next, _ct);

        Assert.Equal(["image 6", "image 4", "image 3"], first.Entries.Select(e => e.Prompt));
        Assert.NotNull(first.Next);
        Assert.Equal(["image 1", "image 0"], second.Entries.Select(e => e.Prompt));
        Assert.Null(second.Next);
        Assert.Equal(5, (await sandbox.History.ListAsync(int.MaxValue, null, _ct)).Entries.Count);
        Assert.True(HistoryCursor.TryParse(first.Next!.ToString(), out var parsed));
        Assert.Equal(first.Next, parsed);
    }

    [Theory, BothDatabases]
    public async Task Entries_are_found_by_id_not_by_position(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var a = await sandbox.SaveImageAsync("first", seed: 1);
        var b = await sandbox.SaveImageAsync("second", seed: 2);
        var c = await sandbox.SaveImageAsync("third", seed: 3);

        // In the original app deleting an image shifted every later index; ids do not move.
        Assert.True((await sandbox.History.DeleteAsync(a.Id, _ct)).Deleted);

        Assert.Equal("second", (await sandbox.History.GetAsync(b.Id, _ct))?.Prompt);
        Assert.Equal("third", (await sandbox.History.GetAsync(c.Id, _ct))?.Prompt);
        Assert.Null(await sandbox.History.GetAsync(a.Id, _ct));
    }

    [Theory, BothDatabases]
    public async Task Details_are_readable_key_value_lines(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var entry = await sandbox.SaveImageAsync("a cat\nwith a hat", seed: 77);

        var details = await sandbox.History.GetDetailsAsync(entry.Id, _ct);

        Assert.NotNull(details);
        var lines = details.TrimEnd('\n').Split('\n');
        Assert.All(lines, line => Assert.Matches("^[A-Za-z][A-Za-z ]*: .+$", line));
        Assert.Contains("Prompt: a cat with a hat", lines);
        Assert.Contains("Seed: 77", lines);
        Assert.Contains("Model: schnell", lines);
        Assert.Contains("Steps: 4", lines);
        Assert.Contains("Width: 48", lines);
        Assert.Contains("Height: 32", lines);
        Assert.Contains("Quantize: None", lines);
        Assert.Contains($"File: {entry.ImagePath}", lines);
        Assert.Null(await sandbox.History.GetDetailsAsync(entry.Id + 100, _ct));
    }

    [Theory, BothDatabases]
    public async Task Delete_removes_image_sidecar_and_row(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var entry = await sandbox.SaveImageAsync("to delete", metadata: true);
        Assert.True(File.Exists(entry.MetadataPath));

        var result = await sandbox.History.DeleteAsync(entry.Id, _ct);

        Assert.True(result.Deleted, result.Message);
        Assert.False(File.Exists(entry.ImagePath));
        Assert.False(File.Exists(entry.MetadataPath));
        Assert.Null(await sandbox.History.GetAsync(entry.Id, _ct));
        Assert.Empty(Directory.EnumerateFileSystemEntries(sandbox.OutputRoot));

        var again = await sandbox.History.DeleteAsync(entry.Id, _ct);
        Assert.False(again.Deleted);
        Assert.Contains($"no image {entry.Id}", again.Message);
    }

    [Theory, BothDatabases]
    public async Task Search_matches_prompt_words_and_prefixes_newest_first(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        await sandbox.SaveImageAsync("a red fox in the snow", seed: 1);
        sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        await sandbox.SaveImageAsync("a blue whale in the ocean", seed: 2);
        sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        await sandbox.SaveImageAsync("Red sunset over the sea", seed: 3);

        Assert.Equal(["Red sunset over the sea", "a red fox in the snow"],
            (await sandbox.History.SearchAsync("red", 10, null, _ct)).Entries.Select(e => e.Prompt));
        Assert.Equal(["a red fox in the snow"],
            (await sandbox.History.SearchAsync("fox sno", 10, null, _ct)).Entries.Select(e => e.Prompt));
        Assert.Empty((await sandbox.History.SearchAsync("giraffe", 10, null, _ct)).Entries);
    }

    [Theory]
    [InlineData(DatabaseOptions.Sqlite, "\"unbalanced")]
    [InlineData(DatabaseOptions.Sqlite, "fox OR")]
    [InlineData(DatabaseOptions.Sqlite, "NEAR(fox snow)")]
    [InlineData(DatabaseOptions.Sqlite, "prompt:fox")]
    [InlineData(DatabaseOptions.Sqlite, "-fox *")]
    [InlineData(DatabaseOptions.Sqlite, "'; DROP TABLE images; --")]
    [InlineData(DatabaseOptions.Postgres, "\"unbalanced")]
    [InlineData(DatabaseOptions.Postgres, "fox OR")]
    [InlineData(DatabaseOptions.Postgres, "NEAR(fox snow)")]
    [InlineData(DatabaseOptions.Postgres, "prompt:fox")]
    [InlineData(DatabaseOptions.Postgres, "-fox *")]
    [InlineData(DatabaseOptions.Postgres, "'; DROP TABLE images; --")]
    public async Task Search_treats_any_text_as_words_never_as_query_syntax(string provider, string text)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        await sandbox.SaveImageAsync("a red fox in the snow");

        var page = await sandbox.History.SearchAsync(text, 10, null, _ct);

        Assert.NotNull(page);
        Assert.NotNull(await sandbox.History.GetAsync(page.Entries.FirstOrDefault()?.Id ?? 1, _ct));
    }

    [Theory, BothDatabases]
    public async Task Reuse_turns_an_entry_back_into_the_request_that_made_it(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        var request = new GenerationRequest
        {
            Prompt = "studio portrait",
            Model = FluxVariant.Dev,
            Quantize = 4,
            Steps = 12,
            Seed = 987654321,
            Guidance = 4.5,
            Width = 64,
            Height = 48,
            Loras = [new LoraSelection("style.safetensors", 0.7)],
            Metadata = true,
        };
        var entry = await sandbox.SaveAsync(request);

        var reused = HistoryStore.ToRequest((await sandbox.History.GetAsync(entry.Id, _ct))!);

        Assert.Equal(request, reused);
    }

    [Theory, BothDatabases]
    public async Task Concurrent_writers_on_separate_connections_all_succeed(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        // Four independent store instances stand for the web app, the CLI and workers writing at once.
        var databases = Enumerable.Range(0, 4).Select(_ => StudioDatabase.Create(Options.Create(sandbox.Options))).ToList();
        var writers = databases.Select(database => new HistoryStore(database, Options.Create(sandbox.Options))).ToList();
        Directory.CreateDirectory(sandbox.OutputRoot);

        var tasks = writers.SelectMany((store, w) => Enumerable.Range(0, 25).Select(i => Task.Run(async () =>
        {
            var path = Path.Combine(sandbox.OutputRoot, $"w{w}_{i}.png");
            await File.WriteAllBytesAsync(path, [1]);
            return await store.AddAsync(new HistoryEntry
            {
                Timestamp = DateTimeOffset.UtcNow, Seed = i, Prompt = $"writer {w} image {i}", ModelAlias = "schnell",
                Steps = 4, Width = 16, Height = 16, ImagePath = path,
            }, _ct);
        }))).ToList();
        var added = await Task.WhenAll(tasks);

        Assert.Equal(100, added.Select(e => e.Id).Distinct().Count());
        var all = await sandbox.History.ListAsync(1000, null, _ct);
        Assert.Equal(100, all.Entries.Count);
        Assert.Equal(25, (await sandbox.History.SearchAsync("writer 2", 1000, null, _ct)).Entries.Count(e => e.Prompt.StartsWith("writer 2 ")));
        databases.ForEach(database => (database as IDisposable)?.Dispose());
    }

    [Theory, BothDatabases]
    public async Task Search_splits_words_as_the_prompt_was_split_and_ignores_case(string provider)
    {
        using var sandbox = new StudioSandbox(provider: provider);
        await sandbox.SaveImageAsync("A fox-like Creature, photographed at F/2.8", seed: 1);
        sandbox.Time.Advance(TimeSpan.FromSeconds(1));
        await sandbox.SaveImageAsync("a creature of the night", seed: 2);

        async Task<string[]> Found(string text) =>
            (await sandbox.History.SearchAsync(text, 10, null, _ct)).Entries.Select(e => e.Prompt).ToArray();

        Assert.Equal(["A fox-like Creature, photographed at F/2.8"], await Found("fox-lik"));
        Assert.Equal(["A fox-like Creature, photographed at F/2.8"], await Found("LIKE crea"));
        Assert.Equal(["a creature of the night", "A fox-like Creature, photographed at F/2.8"], await Found("creature"));
        Assert.Empty(await Found("like-fox"));
    }

    [Fact]
    public async Task The_database_uses_WAL_and_the_current_schema_version()
    {
        using var sandbox = new StudioSandbox();
        await sandbox.SaveImageAsync("x");
        await using var connection = new SqliteConnection($"Data Source={((SqliteStudioDatabase)sandbox.Database).Path}");
        await connection.OpenAsync();
        Assert.Equal("wal", await Scalar(connection, "PRAGMA journal_mode"));
        Assert.Equal((long)SqliteStudioDatabase.CurrentVersion, await Scalar(connection, "PRAGMA user_version"));
    }

    [Fact]
    public async Task An_older_schema_is_migrated_and_keeps_its_rows()
    {
        using var sandbox = new StudioSandbox();
        // A version-1 file: images table only, no search index, no job table.
        var path = Path.Combine(sandbox.Root, "old.db");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await Execute(connection, SqliteMigrations.All[0] + "PRAGMA user_version = 1;");
            await Execute(connection, """
                INSERT INTO images (timestamp, seed, prompt, model_alias, steps, height, width, output_filename, status)
                VALUES ('2024-05-01T10:00:00.0000000Z', 5, 'an old mountain cabin', 'schnell', 4, 32, 48, 'old.png', 'saved')
                """);
        }
        var options = Options.Create(new StudioOptions { DataRoot = sandbox.Root, DatabasePath = path });
        Directory.CreateDirectory(options.Value.ResolveOutputRoot());
        await File.WriteAllBytesAsync(Path.Combine(options.Value.ResolveOutputRoot(), "old.png"), [1]);
        var store = new HistoryStore(new SqliteStudioDatabase(options), options);

        var found = await store.SearchAsync("cabin", 10, null, _ct);

        Assert.Equal(["an old mountain cabin"], found.Entries.Select(e => e.Prompt));
        await using var check = new SqliteConnection($"Data Source={path};Pooling=False");
        await check.OpenAsync();
        Assert.Equal((long)SqliteStudioDatabase.CurrentVersion, await Scalar(check, "PRAGMA user_version"));
        Assert.Equal(0L, await Scalar(check, "SELECT COUNT(*) FROM jobs"));
        Assert.Equal(0L, await Scalar(check, "SELECT COUNT(*) FROM training_runs"));
    }

    [Fact]
    public async Task A_database_from_a_newer_version_is_refused_with_a_clear_message()
    {
        using var sandbox = new StudioSandbox();
        var path = Path.Combine(sandbox.Root, "future.db");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await Execute(connection, "PRAGMA user_version = 99;");
        }

        var error = await Assert.ThrowsAsync<StudioDatabaseException>(() => new SqliteStudioDatabase(path).MigrateAsync(_ct));

        Assert.Contains("newer FluxStudio", error.Message);
    }

    private static async Task<object?> Scalar(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    private static async Task Execute(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
