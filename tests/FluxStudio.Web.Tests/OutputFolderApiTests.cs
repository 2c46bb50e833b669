using System.Net;
using FluxStudio.App;
using FluxStudio.App.History;
using FluxStudio.App.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Tests;

/// <summary>
/// History rows that name files outside the output folder, from a crafted import of the original app's database or
/// written straight into the table: the API serves none of those files and deletes none of them.
/// </summary>
public sealed class OutputFolderApiTests : IDisposable
{
    private static readonly byte[] SecretPng = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x53, 0x45, 0x43, 0x52, 0x45, 0x54];

    private readonly StudioFactory _factory = new();
    private readonly string _outside;
    private readonly string _secret;

    public OutputFolderApiTests()
    {
        _outside = Path.Combine(_factory.DataRoot, "elsewhere");
        Directory.CreateDirectory(_outside);
        _secret = Path.Combine(_outside, "secret.png");
        File.WriteAllBytes(_secret, SecretPng);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _factory.Dispose();
    }

    private string OutputRoot => _factory.Services.GetRequiredService<IOptions<StudioOptions>>().Value.ResolveOutputRoot();

    public static TheoryData<string> Escapes() => EscapingRows.Kinds();

    private async Task<long> InsertRowAsync(string escape)
    {
        var database = _factory.Services.GetRequiredService<App.Data.StudioDatabase>();
        await database.MigrateAsync(CancellationToken.None);
        return await EscapingRows.InsertAsync(((App.Data.SqliteStudioDatabase)database).Path, EscapingRows.StoredPath(escape, OutputRoot, _secret));
    }

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task AHandWrittenRowCannotServeOrDeleteAFileOutsideTheOutputFolder(string escape)
    {
        using var client = _factory.CreateClient();
        var id = await InsertRowAsync(escape);

        var image = await client.GetAsync($"/api/images/{id}");
        var deleted = await client.DeleteAsync($"/api/history/{id}");

        Assert.Equal(HttpStatusCode.NotFound, image.StatusCode);
        Assert.DoesNotContain("SECRET", await image.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(SecretPng, await File.ReadAllBytesAsync(_secret));
    }

    [Fact]
    public async Task ACraftedImportServesAndDeletesNothingOutsideTheOutputFolder()
    {
        using var client = _factory.CreateClient();
        var original = Path.Combine(_factory.DataRoot, "mflux-gradio");
        Directory.CreateDirectory(original);
        File.CreateSymbolicLink(Path.Combine(original, "link.png"), _secret);
        var database = await CreateOriginalDatabaseAsync(original, [_secret, "../elsewhere/secret.png", "link.png", "/etc/passwd"]);

        var report = await _factory.Services.GetRequiredService<OriginalHistoryImporter>().ImportAsync(database, null, CancellationToken.None);

        Assert.Equal(0, report.Imported);
        for (var id = 1; id <= 4; id++)
        {
            var image = await client.GetAsync($"/api/images/{id}");
            Assert.Equal(HttpStatusCode.NotFound, image.StatusCode);
            await client.DeleteAsync($"/api/history/{id}");
        }
        Assert.Equal(SecretPng, await File.ReadAllBytesAsync(_secret));
    }

    /// <summary>The original app's table, with one row per output file name.</summary>
    private static async Task<string> CreateOriginalDatabaseAsync(string folder, IEnumerable<string> outputFilenames)
    {
        var path = Path.Combine(folder, OriginalHistoryImporter.DefaultFileName);
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using (var create = connection.CreateCommand())
        {
            create.CommandText = """
                CREATE TABLE images (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, seed INTEGER, prompt TEXT,
                    model_alias TEXT, steps INTEGER, height INTEGER, width INTEGER, output_filename TEXT)
                """;
            await create.ExecuteNonQueryAsync();
        }
        foreach (var output in outputFilenames)
        {
            await using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO images (timestamp, seed, prompt, model_alias, steps, height, width, output_filename)
                VALUES ('20240901_101500', 1, 'crafted', 'schnell', 4, 64, 64, $output)
                """;
            insert.Parameters.AddWithValue("$output", output);
            await insert.ExecuteNonQueryAsync();
        }
        return path;
    }
}
