using System.Diagnostics;
using FluxStudio.App;
using FluxStudio.App.Data;
using FluxStudio.App.History;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace FluxStudio.Bench;

/// <summary>History with many rows (100 000, or 5 000 with --quick): first page, a deep page and a full-text search.</summary>
public static class HistoryBench
{
    private static readonly string[] Words =
        ["lighthouse", "fox", "portrait", "forest", "neon", "city", "watercolor", "castle", "ocean", "robot", "sunset", "cat"];

    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        int rows = options.Quick ? 5_000 : 100_000;
        var root = Directory.CreateTempSubdirectory("fluxstudio-bench-history-").FullName;
        try
        {
            var studio = Options.Create(new StudioOptions { DataRoot = root });
            var store = new HistoryStore(StudioDatabase.Create(studio), studio);
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
            yield return new BenchResult($"history insert ({rows} rows)", rows / clock.Elapsed.TotalSeconds, "rows/s", "one transaction each");

            int runs = options.Quick ? 5 : 21;
            var first = Timing.Median(() => store.ListAsync(50, null, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult("history first page (50)", first.TotalMilliseconds, "ms");

            HistoryCursor? cursor = null;
            for (int page = 0; page < 40; page++)
                cursor = store.ListAsync(50, cursor, CancellationToken.None).GetAwaiter().GetResult().Next;
            var deep = Timing.Median(() => store.ListAsync(50, cursor, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult("history page 41 (50)", deep.TotalMilliseconds, "ms", "cursor paging");

            var search = Timing.Median(() => store.SearchAsync("lighthouse fox", 50, null, CancellationToken.None).GetAwaiter().GetResult(), runs);
            yield return new BenchResult("history search, 2 words (50)", search.TotalMilliseconds, "ms", "FTS5");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }
}
