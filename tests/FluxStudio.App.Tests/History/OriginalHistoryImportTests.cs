using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;
using Microsoft.Data.Sqlite;

namespace FluxStudio.App.Tests.History;

public sealed class OriginalHistoryImportTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly string _originalFolder;
    private readonly CancellationToken _ct = CancellationToken.None;

    public OriginalHistoryImportTests()
    {
        _originalFolder = Path.Combine(_sandbox.Root, "mflux-gradio");
        Directory.CreateDirectory(Path.Combine(_originalFolder, "outputimage"));
    }

    public void Dispose() => _sandbox.Dispose();

    [Fact]
    public async Task Imports_the_original_table_with_both_list_formats_and_relative_paths()
    {
        var db = await CreateOriginalDatabaseAsync(
            ("20240901_101500", 11, "a castle on a hill", "dev", 8, 20, 3.5, 512, 768, null, null, null, 0,
                "['lora/castle.safetensors', 'lora/mist.safetensors']", "[0.8, 1.0]", "outputimage/20240901_101500_11.png"),
            ("2024-09-02 08:00:00", 12, "a quiet harbour", "schnell", null, 4, null, 1024, 1024, "/models/flux", null, null, 0,
                "lora/harbour.safetensors", "0.5", "outputimage/20240902_080000_12.png"),
            ("20240903_090000", 13, "lost file", "schnell", null, 4, null, 1024, 1024, null, null, null, 0,
                "", "", "outputimage/20240903_090000_13.png"));
        var castleImage = await WritePngAsync("outputimage/20240901_101500_11.png");
        await WritePngAsync("outputimage/20240902_080000_12.png");

        var report = await new OriginalHistoryImporter(_sandbox.History).ImportAsync(db, null, _ct);

        Assert.Equal((2, 0, 2), (report.Imported, report.AlreadyPresent, report.Copied));
        Assert.Contains("Row id 3: its image file", Assert.Single(report.Skipped));
        Assert.Empty(report.Problems);
        var listed = (await _sandbox.History.ListAsync(10, null, _ct)).Entries;
        Assert.Equal(["a quiet harbour", "a castle on a hill"], listed.Select(e => e.Prompt));

        // History serves files from the output folder only, so the images are copied there; the originals stay.
        var castle = listed[1];
        Assert.Equal(Path.Combine(_sandbox.OutputRoot, "20240901_101500_11.png"), castle.ImagePath);
        Assert.Equal(await File.ReadAllBytesAsync(castleImage, _ct), await File.ReadAllBytesAsync(castle.ImagePath, _ct));
        Assert.True(File.Exists(castleImage));
        Assert.Equal(["lora/castle.safetensors", "lora/mist.safetensors"], castle.LoraPaths);
        Assert.Equal([0.8, 1.0], castle.LoraScales);
        Assert.Equal(("dev", 8, 20, 3.5, 512, 768, 11L), (castle.ModelAlias, castle.Quantize, castle.Steps, castle.Guidance, castle.Height, castle.Width, castle.Seed));
        Assert.Equal(new DateTime(2024, 9, 1, 10, 15, 0), castle.Timestamp.LocalDateTime);
        Assert.Equal(HistorySources.OriginalApp, castle.Source);

        var harbour = listed[0];
        Assert.Equal(["lora/harbour.safetensors"], harbour.LoraPaths);
        Assert.Equal([0.5], harbour.LoraScales);
        Assert.Equal("/models/flux", harbour.ModelPath);
        Assert.Null(harbour.Quantize);

        var reused = HistoryStore.ToRequest(castle);
        Assert.Equal(Engine.Models.FluxVariant.Dev, reused.Model);
        Assert.Equal([new LoraSelection("castle.safetensors", 0.8), new LoraSelection("mist.safetensors", 1.0)], reused.Loras);
        Assert.Contains("a castle on a hill", (await _sandbox.History.SearchAsync("castle", 10, null, _ct)).Entries.Single().Prompt);
    }

    [Fact]
    public async Task Importing_twice_adds_nothing_the_second_time()
    {
        var db = await CreateOriginalDatabaseAsync(
            ("20240901_101500", 11, "once", "schnell", null, 4, null, 64, 64, null, null, null, 0, null, null, "outputimage/a.png"));
        await WritePngAsync("outputimage/a.png");
        var importer = new OriginalHistoryImporter(_sandbox.History);

        await importer.ImportAsync(db, null, _ct);
        var second = await importer.ImportAsync(db, null, _ct);

        Assert.Equal((0, 1), (second.Imported, second.AlreadyPresent));
        Assert.Single((await _sandbox.History.ListAsync(10, null, _ct)).Entries);
        Assert.Single(Directory.EnumerateFiles(_sandbox.OutputRoot));
    }

    [Fact]
    public async Task A_copy_never_overwrites_another_file_of_the_same_name()
    {
        var db = await CreateOriginalDatabaseAsync(
            ("20240901_101500", 11, "same name", "schnell", null, 4, null, 64, 64, null, null, null, 0, null, null, "outputimage/a.png"));
        await WritePngAsync("outputimage/a.png", seed: 1);
        Directory.CreateDirectory(_sandbox.OutputRoot);
        var ours = Path.Combine(_sandbox.OutputRoot, "a.png");
        await File.WriteAllBytesAsync(ours, PngBytes(seed: 2), _ct);

        await new OriginalHistoryImporter(_sandbox.History).ImportAsync(db, null, _ct);

        Assert.Equal(PngBytes(seed: 2), await File.ReadAllBytesAsync(ours, _ct));
        var entry = (await _sandbox.History.ListAsync(10, null, _ct)).Entries.Single();
        Assert.Equal(Path.Combine(_sandbox.OutputRoot, "a-2.png"), entry.ImagePath);
    }

    [Fact]
    public async Task An_image_already_inside_the_output_folder_stays_where_it_is()
    {
        Directory.CreateDirectory(_sandbox.OutputRoot);
        var inside = Path.Combine(_sandbox.OutputRoot, "20240901_101500_11.png");
        await File.WriteAllBytesAsync(inside, PngBytes(), _ct);
        var db = await CreateOriginalDatabaseAsync(
            ("20240901_101500", 11, "in place", "schnell", null, 4, null, 64, 64, null, null, null, 0, null, null, inside));

        var report = await new OriginalHistoryImporter(_sandbox.History).ImportAsync(db, null, _ct);

        Assert.Equal((1, 0), (report.Imported, report.Copied));
        Assert.Equal(inside, (await _sandbox.History.ListAsync(10, null, _ct)).Entries.Single().ImagePath);
        Assert.Single(Directory.EnumerateFiles(_sandbox.OutputRoot));
    }

    [Fact]
    public async Task Rows_naming_files_outside_the_original_folder_or_not_images_are_skipped_with_the_reason()
    {
        // A crafted database: every row but the last tries to pull in a file from elsewhere.
        var elsewhere = Path.Combine(_sandbox.Root, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var secret = Path.Combine(elsewhere, "secret.png");
        await File.WriteAllBytesAsync(secret, PngBytes(seed: 9), _ct);
        File.CreateSymbolicLink(Path.Combine(_originalFolder, "outputimage", "link.png"), secret);
        Directory.CreateSymbolicLink(Path.Combine(_originalFolder, "linked"), elsewhere);
        await File.WriteAllTextAsync(Path.Combine(_originalFolder, "notes.txt"), "private notes", _ct);
        await WritePngAsync("outputimage/good.png");
        (object?, object?, string, string, object?, object?, double?, int, int, string?, string?, double?, object?, string?, string?, string)
            Row(string output) => ("20240901_101500", 1, output, "schnell", null, 4, null, 64, 64, null, null, null, 0, null, null, output);
        var db = await CreateOriginalDatabaseAsync(
            Row(secret), Row("../elsewhere/secret.png"), Row("outputimage/link.png"), Row("linked/secret.png"), Row("notes.txt"),
            Row("/etc/passwd"), Row("outputimage/good.png"));

        var report = await new OriginalHistoryImporter(_sandbox.History).ImportAsync(db, null, _ct);

        Assert.Equal(1, report.Imported);
        Assert.Equal(6, report.Skipped.Count);
        Assert.All(report.Skipped.Take(4), reason => Assert.Contains("lies outside the original app's folder", reason));
        Assert.Contains("Row id 5: its file", report.Skipped[4]);
        Assert.Contains("is not a PNG image", report.Skipped[4]);
        Assert.Contains("Row id 6:", report.Skipped[5]);
        Assert.Equal(["good.png"], Directory.EnumerateFiles(_sandbox.OutputRoot).Select(Path.GetFileName));
        Assert.Equal("outputimage/good.png", (await _sandbox.History.ListAsync(10, null, _ct)).Entries.Single().Prompt);
    }

    [Fact]
    public async Task Mismatched_lora_lists_and_odd_values_are_imported_with_a_note()
    {
        var db = await CreateOriginalDatabaseAsync(
            ("not a date", "7", "odd row", "SCHNELL", "None", null, null, 32, 48, "None", null, null, null,
                "[\"a.safetensors\", \"b.safetensors\"]", "[0.3]", "outputimage/20240105_120000_7.png"));
        await WritePngAsync("outputimage/20240105_120000_7.png");

        var report = await new OriginalHistoryImporter(_sandbox.History).ImportAsync(db, null, _ct);

        Assert.Equal(1, report.Imported);
        Assert.Contains(report.Problems, p => p.Contains("2 LoRA path(s) but 1 scale(s)"));
        var entry = (await _sandbox.History.ListAsync(10, null, _ct)).Entries.Single();
        Assert.Equal([0.3, 1.0], entry.LoraScales);
        Assert.Equal(7, entry.Seed);
        Assert.Equal(4, entry.Steps);
        Assert.Null(entry.Quantize);
        Assert.Null(entry.ModelPath);
        // The unreadable timestamp falls back to the time in the file name.
        Assert.Equal(new DateTime(2024, 1, 5, 12, 0, 0), entry.Timestamp.LocalDateTime);
    }

    [Fact]
    public async Task A_database_that_is_not_the_original_history_gives_a_clear_error()
    {
        var path = Path.Combine(_originalFolder, "other.db");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE notes (id INTEGER)";
            await command.ExecuteNonQueryAsync();
        }
        var notSqlite = Path.Combine(_originalFolder, "text.db");
        await File.WriteAllTextAsync(notSqlite, "this is not a database, just some text that is long enough to matter");

        var importer = new OriginalHistoryImporter(_sandbox.History);
        var noTable = await Assert.ThrowsAsync<InvalidDataException>(() => importer.ImportAsync(path, null, _ct));
        var garbage = await Assert.ThrowsAsync<InvalidDataException>(() => importer.ImportAsync(notSqlite, null, _ct));
        var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => importer.ImportAsync(Path.Combine(_originalFolder, "nope.db"), null, _ct));

        Assert.Contains("no \"images\" table", noTable.Message);
        Assert.Contains("could not be read as an SQLite database", garbage.Message);
        Assert.Contains("generated_images.db", missing.Message);
    }

    [Theory]
    [InlineData("a.safetensors,b.safetensors", new[] { "a.safetensors", "b.safetensors" })]
    [InlineData("['a.safetensors', 'b.safetensors']", new[] { "a.safetensors", "b.safetensors" })]
    [InlineData("[\"x y.safetensors\"]", new[] { "x y.safetensors" })]
    [InlineData("[]", new string[0])]
    [InlineData("", new string[0])]
    [InlineData("None", new string[0])]
    [InlineData("0.5, 1.0", new[] { "0.5", "1.0" })]
    public void Lists_in_either_stored_form_are_read(string text, string[] expected) =>
        Assert.Equal(expected, OriginalHistoryImporter.ParseList(text));

    /// <summary>The PNG signature and a few bytes that differ by seed: enough for the importer, which checks the signature.</summary>
    private static byte[] PngBytes(int seed = 0) => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, (byte)seed, 1, 2, 3];

    private async Task<string> WritePngAsync(string relativePath, int seed = 0)
    {
        var path = Path.Combine(_originalFolder, relativePath);
        await File.WriteAllBytesAsync(path, PngBytes(seed), _ct);
        return path;
    }

    private async Task<string> CreateOriginalDatabaseAsync(
        params (object? Timestamp, object? Seed, string Prompt, string Model, object? Quantize, object? Steps, double? Guidance,
            int Height, int Width, string? Path, string? ControlNet, double? ControlNetStrength, object? SaveCanny,
            string? LoraPaths, string? LoraScales, string Output)[] rows)
    {
        var path = Path.Combine(_originalFolder, "generated_images.db");
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using (var create = connection.CreateCommand())
        {
            // The original app's schema, as its init_db() creates it.
            create.CommandText = """
                CREATE TABLE IF NOT EXISTS images (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, seed INTEGER, prompt TEXT, model_alias TEXT,
                    quantize INTEGER, steps INTEGER, guidance REAL, height INTEGER, width INTEGER, path TEXT,
                    controlnet_image_path TEXT, controlnet_strength REAL, controlnet_save_canny INTEGER,
                    lora_paths TEXT, lora_scales TEXT, output_filename TEXT)
                """;
            await create.ExecuteNonQueryAsync();
        }
        foreach (var row in rows)
        {
            await using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO images (timestamp, seed, prompt, model_alias, quantize, steps, guidance, height, width, path,
                    controlnet_image_path, controlnet_strength, controlnet_save_canny, lora_paths, lora_scales, output_filename)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                """;
            object?[] values = [row.Timestamp, row.Seed, row.Prompt, row.Model, row.Quantize, row.Steps, row.Guidance, row.Height,
                row.Width, row.Path, row.ControlNet, row.ControlNetStrength, row.SaveCanny, row.LoraPaths, row.LoraScales, row.Output];
            for (var i = 0; i < values.Length; i++)
                insert.Parameters.AddWithValue($"${i + 1}", values[i] ?? DBNull.Value);
            await insert.ExecuteNonQueryAsync();
        }
        return path;
    }
}
