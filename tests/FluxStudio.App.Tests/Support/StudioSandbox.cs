using FluxStudio.Engine.Models;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Memory;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// A data folder on disk with a real database, an SQLite file (the default) or a PostgreSQL database of its own
/// (<paramref name="provider"/> <c>postgres</c>), and the services over it. <see cref="Restart"/> builds fresh service
/// instances over the same folder and database, as a new process would after a crash; they share the clock.
/// </summary>
public sealed class StudioSandbox : IDisposable
{
    /// <param name="emptyDatabase">For PostgreSQL: start from an empty database rather than one with the current schema.</param>
    public StudioSandbox(string? root = null, Action<StudioOptions>? configure = null, string provider = DatabaseOptions.Sqlite,
        FakeTime? time = null, bool emptyDatabase = false)
    {
        _ownsRoot = root is null;
        Root = root ?? Path.Combine(Path.GetTempPath(), "fluxstudio-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Options = new StudioOptions { DataRoot = Root, Database = { Provider = provider } };
        configure?.Invoke(Options);
        if (Options.Database.Provider == DatabaseOptions.Postgres && Options.Database.ConnectionString is null)
        {
            Options.Database.ConnectionString = TestPostgres.CreateDatabase(emptyDatabase);
            _ownsDatabase = true;
        }
        Time = time ?? new FakeTime(new DateTimeOffset(2025, 3, 14, 15, 9, 26, TimeSpan.Zero));
        Database = StudioDatabase.Create(Microsoft.Extensions.Options.Options.Create(Options));
        History = new HistoryStore(Database, Microsoft.Extensions.Options.Options.Create(Options), time: Time);
        Loras = new LoraCatalog(Microsoft.Extensions.Options.Options.Create(Options));
        Outputs = new OutputStore(History, Microsoft.Extensions.Options.Options.Create(Options), Time);
        Validator = new GenerationRequestValidator(new GenerationRequestValidatorOptions(), Loras);
    }

    private readonly bool _ownsRoot;
    private readonly bool _ownsDatabase;

    public string Root { get; }
    public StudioOptions Options { get; }
    public FakeTime Time { get; }
    public StudioDatabase Database { get; }
    public HistoryStore History { get; }
    public LoraCatalog Loras { get; }
    public OutputStore Outputs { get; }
    public GenerationRequestValidator Validator { get; }

    public bool IsPostgres => Options.Database.Provider == DatabaseOptions.Postgres;

    public string OutputRoot => Options.ResolveOutputRoot();
    public string LoraFolder => Options.ResolveLoraFolder();

    /// <summary>New service instances over the same files and database; the old ones are simply abandoned.</summary>
    public StudioSandbox Restart() => new(Root, o =>
    {
        o.Queue = Options.Queue;
        o.AlwaysExportMetadata = Options.AlwaysExportMetadata;
        o.Database = Options.Database;
    }, Options.Database.Provider, Time);

    /// <summary>Rows as the database holds them, for checks no store offers (the count of rows in a state, say).</summary>
    public async Task<T?> QueryScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = await Database.OpenAsync(CancellationToken.None);
        return await Dapper.SqlMapper.ExecuteScalarAsync<T>(connection, sql, parameters);
    }

    /// <summary>The generation use case over this sandbox, with the given generators (unkeyed, or keyed by device).</summary>
    public ImageGenerationService CreateGeneration(IImageGenerator? generator, Action<IServiceCollection>? addServices = null)
    {
        var services = new ServiceCollection();
        if (generator is not null)
            services.AddSingleton(generator);
        addServices?.Invoke(services);
        return new ImageGenerationService(Validator, Loras, Outputs, services.BuildServiceProvider(), Time);
    }

    /// <param name="memoryWording">How the failed jobs' memory advice is worded, as the web registers it.</param>
    public StudioQueue CreateQueue(IImageGenerator? generator, Action<IServiceCollection>? addServices = null,
        IMemoryRemedyWording? memoryWording = null) =>
        new(Database, Validator, CreateGeneration(generator, addServices), Microsoft.Extensions.Options.Options.Create(Options), Time,
            memoryWording);

    /// <summary>Saves a small image through the output store, as a finished job would.</summary>
    public async Task<HistoryEntry> SaveImageAsync(string prompt, long seed = 42, bool metadata = false) =>
        await SaveAsync(TestRequests.Small(prompt) with { Seed = seed, Metadata = metadata }, "cpu");

    /// <summary>Saves the image a stand-in engine makes for <paramref name="request"/>, recorded as the use case records it.</summary>
    public Task<HistoryEntry> SaveAsync(GenerationRequest request, string device = "cpu")
    {
        var run = FakeImageGenerator.Render(request, device).Run;
        var record = GenerationRecord.Describe(request, run, Time.GetLocalNow());
        return Outputs.SaveAsync(record, OutputStore.Encode(record, run), request.Metadata, CancellationToken.None);
    }

    /// <summary>Deletes the folder and the database only if this sandbox created them; restarted instances share them.</summary>
    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        (Database as IDisposable)?.Dispose();
        if (_ownsDatabase)
            TestPostgres.DropDatabase(Options.Database.ConnectionString!);
        if (!_ownsRoot)
            return;
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public static class TestWait
{
    /// <summary>A guard so a broken build fails instead of hanging the run; not a speed requirement.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);
}

public static class TestRequests
{
    /// <summary>A request for the tiny 48×32 images the tests use.</summary>
    public static GenerationRequest Small(string prompt = "a red fox in the snow") => new()
    {
        Prompt = prompt,
        Model = FluxVariant.Schnell,
        Width = 48,
        Height = 32,
        Seed = 42,
    };
}

public sealed class FakeTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public void Advance(TimeSpan by) => _now += by;
}
