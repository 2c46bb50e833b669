using Dapper;
using FluxStudio.App.Data;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Tests;
using Microsoft.Extensions.Options;
using Npgsql;

namespace FluxStudio.App.Tests.Data;

/// <summary>The PostgreSQL schema: set up once however many machines start at the same moment, and never touched by an older FluxStudio.</summary>
public sealed class PostgresSchemaTests
{
    private readonly CancellationToken _ct = CancellationToken.None;

    [Fact]
    public async Task Machines_starting_at_once_set_the_schema_up_once()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres, emptyDatabase: true);
        var databases = Enumerable.Range(0, 6).Select(_ => StudioDatabase.Create(Options.Create(sandbox.Options))).ToList();

        await Task.WhenAll(databases.Select(database => Task.Run(() => database.MigrateAsync(_ct))));

        Assert.Equal(PostgresStudioDatabase.CurrentVersion, await sandbox.QueryScalarAsync<int>("SELECT version FROM fluxstudio_schema"));
        Assert.Equal(1, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM fluxstudio_schema"));
        Assert.Equal(0, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM images"));
        databases.ForEach(database => ((IDisposable)database).Dispose());
    }

    [Fact]
    public async Task A_schema_of_an_earlier_version_is_upgraded_in_place_and_keeps_its_rows()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres, emptyDatabase: true);
        await using (var connection = new NpgsqlConnection(sandbox.Options.Database.ConnectionString))
        {
            // The first released schema, without training runs, with a job queued in it.
            await connection.ExecuteAsync(PostgresMigrations.All[0] + """
                CREATE TABLE fluxstudio_schema (version integer NOT NULL); INSERT INTO fluxstudio_schema VALUES (1);
                INSERT INTO jobs (status, request_json, created_at) VALUES ('queued', '{}', now());
                """);
        }

        await sandbox.Database.MigrateAsync(_ct);

        Assert.Equal(PostgresStudioDatabase.CurrentVersion, await sandbox.QueryScalarAsync<int>("SELECT version FROM fluxstudio_schema"));
        Assert.Equal("queued", await sandbox.QueryScalarAsync<string>("SELECT status FROM jobs"));
        Assert.Equal(0, await sandbox.QueryScalarAsync<int>("SELECT COUNT(*) FROM training_runs"));
    }

    [Fact]
    public async Task A_database_from_a_newer_version_is_refused_and_left_as_it_is()
    {
        using var sandbox = new StudioSandbox(provider: DatabaseOptions.Postgres, emptyDatabase: true);
        await using (var connection = new NpgsqlConnection(sandbox.Options.Database.ConnectionString))
        {
            await connection.ExecuteAsync("CREATE TABLE fluxstudio_schema (version integer NOT NULL); INSERT INTO fluxstudio_schema VALUES (99);");
        }

        var error = await Assert.ThrowsAsync<StudioDatabaseException>(() => sandbox.Database.MigrateAsync(_ct));

        Assert.Contains("newer FluxStudio (schema 99", error.Message);
        await using var check = new NpgsqlConnection(sandbox.Options.Database.ConnectionString);
        Assert.Null(await check.ExecuteScalarAsync<string?>("SELECT to_regclass('images')::text"));
    }

    [Fact]
    public async Task A_server_that_cannot_be_reached_is_one_sentence_naming_it()
    {
        var port = LoopbackPorts.Free();
        var database = StudioDatabase.Create(Options.Create(new StudioOptions
        {
            Database = { Provider = "postgres", ConnectionString = $"Host=127.0.0.1;Port={port};Database=studio;Username=studio;Timeout=3" },
        }));

        var error = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => database.CheckAsync(_ct));

        Assert.Contains($"studio on 127.0.0.1:{port}", error.Message);
        Assert.Contains("FluxStudio:Database:ConnectionString", error.Message);
    }

    [Theory]
    [InlineData("postgres", null, "no connection string is set")]
    [InlineData("mysql", null, "use sqlite (one machine) or postgres (several machines)")]
    public void A_database_setting_that_makes_no_sense_says_what_to_set(string provider, string? connectionString, string expected)
    {
        var error = Assert.Throws<StudioDatabaseException>(() => StudioDatabase.Create(Options.Create(new StudioOptions
        {
            Database = { Provider = provider, ConnectionString = connectionString },
        })));

        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("images", "prompt_search")]
    [InlineData("jobs", "preview_png")]
    [InlineData("workers", null)]
    public async Task Both_schemas_hold_the_same_columns_besides_what_only_PostgreSQL_needs(string table, string? postgresOnly)
    {
        using var sqlite = new StudioSandbox();
        using var postgres = new StudioSandbox(provider: DatabaseOptions.Postgres);
        await using var sqliteConnection = await sqlite.Database.OpenAsync(_ct);
        await using var postgresConnection = await postgres.Database.OpenAsync(_ct);

        var sqliteColumns = (await sqliteConnection.QueryAsync<string>($"SELECT name FROM pragma_table_info('{table}')")).Order();
        var postgresColumns = (await postgresConnection.QueryAsync<string>(
            "SELECT column_name FROM information_schema.columns WHERE table_name = @table AND table_schema = current_schema()", new { table }))
            .Where(column => column != postgresOnly).Order();

        Assert.Contains("id", sqliteColumns);
        Assert.Equal(sqliteColumns, postgresColumns);
    }
}
