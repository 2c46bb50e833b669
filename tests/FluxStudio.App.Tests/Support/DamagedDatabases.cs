using FluxStudio.App.Data;
using Microsoft.Data.Sqlite;

namespace FluxStudio.App.Tests.Support;

/// <summary>Database files damaged the two ways SQLite tells apart: not a database at all, and a database with broken pages.</summary>
public static class DamagedDatabases
{
    public const string NotADatabase = "not-a-database";
    public const string BrokenPages = "broken-pages";

    /// <summary>Writes <c>fluxstudio.db</c> into <paramref name="dataRoot"/>, damaged as <paramref name="kind"/> says; returns its path.</summary>
    public static async Task<string> WriteAsync(string dataRoot, string kind)
    {
        Directory.CreateDirectory(dataRoot);
        var path = Path.Combine(dataRoot, "fluxstudio.db");
        var random = new Random(15);
        if (kind == NotADatabase)
        {
            var garbage = new byte[64 * 1024];
            random.NextBytes(garbage);
            await File.WriteAllBytesAsync(path, garbage);
            return path;
        }

        // A real history of a few MB, then random bytes over pages in its middle, as a failing disk leaves it.
        await new SqliteStudioDatabase(path).MigrateAsync(CancellationToken.None);
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var transaction = connection.BeginTransaction();
            await using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO images (timestamp, seed, prompt, model_alias, steps, height, width, output_filename, status)
                VALUES ('2025-01-01T00:00:00.0000000Z', $seed, $prompt, 'schnell', 4, 64, 64, $file, 'saved')
                """;
            var seed = insert.Parameters.Add("$seed", SqliteType.Integer);
            var prompt = insert.Parameters.Add("$prompt", SqliteType.Text);
            var file = insert.Parameters.Add("$file", SqliteType.Text);
            for (var i = 0; i < 5000; i++)
            {
                (seed.Value, prompt.Value, file.Value) = (i, $"a lighthouse at dusk, painting number {i}", $"{i}.png");
                await insert.ExecuteNonQueryAsync();
            }
            await transaction.CommitAsync();
            await using var checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            await checkpoint.ExecuteNonQueryAsync();
        }
        var damage = new byte[64 * 1024];
        random.NextBytes(damage);
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = stream.Length / 2;
            await stream.WriteAsync(damage);
        }
        return path;
    }
}
