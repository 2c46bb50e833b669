using FluxStudio.App.Loras;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Loras;

public sealed class LoraCatalogTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();

    public LoraCatalogTests() => Directory.CreateDirectory(_sandbox.LoraFolder);

    public void Dispose() => _sandbox.Dispose();

    private string InfoPath => Path.Combine(_sandbox.LoraFolder, LoraCatalog.InfoFileName);

    private void WriteInfo(string json)
    {
        File.WriteAllText(InfoPath, json);
        // Make every rewrite visible even on file systems with coarse modification times.
        File.SetLastWriteTimeUtc(InfoPath, DateTime.UtcNow.AddSeconds(Interlocked.Increment(ref _writes)));
    }

    private int _writes;

    private void AddLoraFile(string name) => File.WriteAllBytes(Path.Combine(_sandbox.LoraFolder, name), [0]);

    [Fact]
    public void Reads_entries_in_file_order_and_flags_those_whose_file_is_missing()
    {
        AddLoraFile("ink.safetensors");
        WriteInfo("""
            [
              {"file_name": "ink.safetensors", "description": "Ink drawing", "activation_keyword": "ink style"},
              {"file_name": "gone.safetensors", "description": "Deleted", "activation_keyword": "gone"}
            ]
            """);

        var snapshot = _sandbox.Loras.GetSnapshot();

        Assert.Null(snapshot.Error);
        Assert.Equal(["ink.safetensors", "gone.safetensors"], snapshot.Entries.Select(e => e.FileName));
        Assert.Equal("Ink drawing", snapshot.Entries[0].Description);
        Assert.False(snapshot.Entries[0].FileMissing);
        Assert.True(snapshot.Entries[1].FileMissing);
        Assert.Equal(Path.Combine(_sandbox.LoraFolder, "ink.safetensors"), snapshot.Entries[0].FullPath);
    }

    [Fact]
    public void Notices_changes_to_the_file_without_a_restart()
    {
        WriteInfo("""[{"file_name": "a.safetensors", "description": "", "activation_keyword": "alpha"}]""");
        Assert.Equal(["a.safetensors"], _sandbox.Loras.GetSnapshot().Entries.Select(e => e.FileName));

        WriteInfo("""[{"file_name": "a.safetensors", "description": "", "activation_keyword": "alpha"}, {"file_name": "b.safetensors", "description": "new", "activation_keyword": "beta"}]""");
        Assert.Equal(["a.safetensors", "b.safetensors"], _sandbox.Loras.GetSnapshot().Entries.Select(e => e.FileName));

        Assert.True(_sandbox.Loras.GetSnapshot().Entries[1].FileMissing);
        AddLoraFile("b.safetensors");
        Assert.False(_sandbox.Loras.GetSnapshot().Entries[1].FileMissing);
    }

    [Fact]
    public void Malformed_json_keeps_the_last_good_catalog_and_says_where_the_error_is()
    {
        WriteInfo("""[{"file_name": "a.safetensors", "description": "", "activation_keyword": "alpha"}]""");
        _sandbox.Loras.GetSnapshot();

        WriteInfo("""
            [
              {"file_name": "a.safetensors" "description": ""}
            ]
            """);
        var broken = _sandbox.Loras.GetSnapshot();

        Assert.Equal(["a.safetensors"], broken.Entries.Select(e => e.FileName));
        Assert.NotNull(broken.Error);
        Assert.Contains("lora_info.json is not a valid LoRA list (line 2", broken.Error);
        Assert.Contains("previous LoRA list stays in use", broken.Error);

        WriteInfo("""[{"file_name": "c.safetensors", "description": "", "activation_keyword": ""}]""");
        var fixedAgain = _sandbox.Loras.GetSnapshot();
        Assert.Null(fixedAgain.Error);
        Assert.Equal(["c.safetensors"], fixedAgain.Entries.Select(e => e.FileName));
    }

    [Fact]
    public void A_wrong_shape_is_an_error_too()
    {
        WriteInfo("""{"file_name": "a.safetensors"}""");

        var snapshot = _sandbox.Loras.GetSnapshot();

        Assert.Empty(snapshot.Entries);
        Assert.Contains("not a valid LoRA list", snapshot.Error);
        Assert.Contains("file_name", snapshot.Error);
    }

    [Fact]
    public void Entries_that_point_outside_the_folder_or_repeat_are_skipped_with_a_warning()
    {
        WriteInfo("""
            [
              {"file_name": "../secret.safetensors", "description": "", "activation_keyword": ""},
              {"file_name": "ok.safetensors", "description": null, "activation_keyword": null},
              {"file_name": "ok.safetensors", "description": "again", "activation_keyword": "x"},
              {"description": "no name"}
            ]
            """);

        var snapshot = _sandbox.Loras.GetSnapshot();

        Assert.Equal(["ok.safetensors"], snapshot.Entries.Select(e => e.FileName));
        Assert.Equal("", snapshot.Entries[0].Description);
        Assert.Equal(3, snapshot.Warnings.Count);
        Assert.Contains(snapshot.Warnings, w => w.Contains("../secret.safetensors"));
    }

    [Fact]
    public void No_info_file_means_an_empty_catalog_without_error()
    {
        var snapshot = _sandbox.Loras.GetSnapshot();

        Assert.Empty(snapshot.Entries);
        Assert.Null(snapshot.Error);
    }

    [Theory]
    [InlineData(new[] { "b.safetensors", "a.safetensors" }, "a fox", "alpha, beta, a fox")]
    [InlineData(new[] { "a.safetensors" }, "a fox", "alpha, a fox")]
    [InlineData(new[] { "empty.safetensors" }, "a fox", "a fox")]
    [InlineData(new[] { "empty.safetensors", "b.safetensors" }, "a fox", "beta, a fox")]
    [InlineData(new string[0], "a fox", "a fox")]
    [InlineData(new[] { "a.safetensors" }, "", "alpha")]
    [InlineData(new[] { "a.safetensors", "b.safetensors" }, "alpha, beta, a fox", "alpha, beta, a fox")]
    public void Keywords_are_prepended_in_catalog_order_without_stray_commas_or_repeats(string[] selected, string prompt, string expected)
    {
        WriteInfo("""
            [
              {"file_name": "a.safetensors", "description": "", "activation_keyword": "alpha"},
              {"file_name": "empty.safetensors", "description": "", "activation_keyword": "  "},
              {"file_name": "b.safetensors", "description": "", "activation_keyword": "beta"}
            ]
            """);

        Assert.Equal(expected, _sandbox.Loras.GetSnapshot().ComposePrompt(prompt, selected));
    }

    [Fact]
    public void Lists_every_safetensors_file_of_the_folder_after_the_catalog_entries()
    {
        AddLoraFile("ink.safetensors");
        AddLoraFile("zebra.safetensors");
        AddLoraFile("Alpine.safetensors");
        AddLoraFile("notes.txt");
        WriteInfo("""[{"file_name": "ink.safetensors", "description": "Ink drawing", "activation_keyword": "ink style"}]""");

        var entries = _sandbox.Loras.GetSnapshot().Entries;

        Assert.Equal(["ink.safetensors", "Alpine.safetensors", "zebra.safetensors"], entries.Select(e => e.FileName));
        Assert.Equal([true, false, false], entries.Select(e => e.InCatalog));
        Assert.All(entries.Skip(1), e => Assert.Equal(("", "", false), (e.Description, e.ActivationKeyword, e.FileMissing)));
    }

    [Fact]
    public async Task Saving_an_entry_edits_it_in_place_and_keeps_the_other_entries_and_their_fields()
    {
        AddLoraFile("ink.safetensors");
        WriteInfo("""
            [
              {"file_name": "a.safetensors", "description": "first", "activation_keyword": "alpha", "source": "civitai"},
              {"file_name": "ink.safetensors", "description": "old", "activation_keyword": "old kw"},
            ]
            """);

        var snapshot = await _sandbox.Loras.SaveEntryAsync("ink.safetensors", " Ink drawing, ça marche ", "ink style", CancellationToken.None);

        Assert.Equal(["a.safetensors", "ink.safetensors"], snapshot.Entries.Select(e => e.FileName));
        Assert.Equal(("Ink drawing, ça marche", "ink style"), (snapshot.Entries[1].Description, snapshot.Entries[1].ActivationKeyword));
        var written = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(InfoPath))!.AsArray();
        Assert.Equal("civitai", (string?)written[0]!["source"]);
        Assert.Equal("alpha", (string?)written[0]!["activation_keyword"]);
        Assert.Contains("ça marche", File.ReadAllText(InfoPath));
        Assert.Empty(Directory.GetFiles(_sandbox.LoraFolder, "*.tmp"));
    }

    [Fact]
    public async Task Saving_a_file_the_catalog_does_not_list_adds_it_and_creates_the_catalog_when_there_is_none()
    {
        AddLoraFile("new.safetensors");
        Assert.False(_sandbox.Loras.GetSnapshot().Entries.Single().InCatalog);

        var snapshot = await _sandbox.Loras.SaveEntryAsync("new.safetensors", "Fresh", "newkw", CancellationToken.None);

        var entry = Assert.Single(snapshot.Entries);
        Assert.Equal(("new.safetensors", "Fresh", "newkw", true), (entry.FileName, entry.Description, entry.ActivationKeyword, entry.InCatalog));
        Assert.Equal("newkw, a fox", snapshot.ComposePrompt("a fox", ["new.safetensors"]));
        Assert.True(File.Exists(InfoPath));
    }

    [Fact]
    public async Task A_broken_catalog_or_a_path_is_refused_and_the_file_is_left_as_it_was()
    {
        const string broken = """[{"file_name": "a.safetensors" "description": ""}]""";
        WriteInfo(broken);

        var error = await Assert.ThrowsAsync<LoraCatalogException>(() =>
            _sandbox.Loras.SaveEntryAsync("a.safetensors", "d", "k", CancellationToken.None));
        Assert.Contains("cannot be edited here while it has an error", error.Message);
        Assert.Equal(broken, File.ReadAllText(InfoPath));

        await Assert.ThrowsAsync<LoraCatalogException>(() =>
            _sandbox.Loras.SaveEntryAsync("../escape.safetensors", "d", "k", CancellationToken.None));
        Assert.Equal(broken, File.ReadAllText(InfoPath));
    }
}
