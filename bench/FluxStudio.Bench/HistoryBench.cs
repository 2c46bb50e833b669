using System.Diagnostics;
using FluxStudio.App;
using FluxStudio.App.Data;
using FluxStudio.App.History;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Npgsql;

namespace FluxStudio.Bench;

/// <summary>
/// History with many rows (100 000, or 5 000 with --quick): first page, a deep page and a full-text search, on SQLite
/// and, side by side, on PostgreSQL when <c>FLUXSTUDIO_BENCH_POSTGRES</c> names a server whose user may create a database
/// (the bench makes one and drops it).
/// </summary>
public static class HistoryBench
{
    public const string PostgresVariable = "FLUXSTUDIO_BENCH_POSTGRES";

    private static readonly string[] Words =
        ["lighthouse", "fox", "portrait", "forest", "neon", "city", "watercolor", "castle", "ocean", "robot", "sunset", "cat"];

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        foreach (var result in Run(options, DatabaseOptions.Sqlite))
            yield return result;
        if (Environment.GetEnvironmentVariable(PostgresVariable) is not { Length: > 0 })
            yield break;
        foreach (var result in Run(options, DatabaseOptions.Postgres))
            yield return result;
    }

    private static IEnumerable<BenchResult> Run(BenchOptions options, string provider)
    {
        int rows = options.Quick ? 5_000 : 100_000;
        var root = Directory.CreateTempSubdirectory("fluxstudio-bench-history-").FullName;
        var studio = Options.Create(new StudioOptions { DataRoot = root, Database = { Provider = provider } });
        if (provider == DatabaseOptions.Postgres)
            studio.Value.Database.ConnectionString = CreatePostgresDatabase();
        var database = StudioDatabase.Create(studio);
        try
        {
            var store = new HistoryStore(database, studio);
            var images = Path.Combine(root, "outputimage");
            Directory.CreateDirectory(images);
            var random = new Random(5);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < rows; i++)
            {
                var path = Path.Combine(images, $"{i:D6}.png");
                File.WriteAllBytes(path, []);
                store.AddAsync(new HistoryEntry
                {
                    Timestamp = DateTimeOffset.UnixEpoch.AddSeconds(i),
                    Seed = i + 1,
                    Prompt = string.Join(' ', Enumerable.Range(0, 6).Select(_ => Words[random.Next(Words.Length)])),
                    ModelAlias = "schnell",
                    Steps = 4,
                    Width = 1024,
                    Height = 1024,
                    ImagePath = path,
                }, CancellationToken.None).GetAwaiter().GetResult();
            }
            yield return new BenchResult($"history insert ({rows} rows), {provider}", rows / clock.Elapsed.TotalSeconds, "rows/s", "one transaction each");

            int runs = options.Quick ? 5 : 21;
            var first = Timing.Median(() => store.ListAsync(50, null, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult($"history first page (50), {provider}", first.TotalMilliseconds, "ms");

            HistoryCursor? cursor = null;
            for (int page = 0; page < 40; page++)
                cursor = store.ListAsync(50, cursor, CancellationToken.None).GetAwaiter().GetResult().Next;
            var deep = Timing.Median(() => store.ListAsync(50, cursor, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult($"history page 41 (50), {provider}", deep.TotalMilliseconds, "ms", "cursor paging");

            var search = Timing.Median(() => store.SearchAsync("lighthouse fox", 50, null, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult($"history search, 2 words (50), {provider}", search.TotalMilliseconds, "ms",
                provider == DatabaseOptions.Postgres ? "tsvector, GIN" : "FTS5");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            (database as IDisposable)?.Dispose();
            if (studio.Value.Database.ConnectionString is { } created)
                DropPostgresDatabase(created);
            Directory.Delete(root, recursive: true);
        }
    }

    private static string CreatePostgresDatabase()
    {
        var admin = Environment.GetEnvironmentVariable(PostgresVariable)!;
        var name = "fluxstudio_bench_" + Guid.NewGuid().ToString("N");
        using var connection = new NpgsqlConnection(admin);
        connection.Open();
        using (var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection))
            command.ExecuteNonQuery();
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    private static void DropPostgresDatabase(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        using var connection = new NpgsqlConnection(Environment.GetEnvironmentVariable(PostgresVariable));
        connection.Open();
        using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        command.ExecuteNonQuery();
    }
}
