using FluxStudio.App.Data;
using Npgsql;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: the one <c>FLUXSTUDIO_TEST_POSTGRES</c> names (a connection string to a database
/// whose user may create databases), which <c>./test.sh</c> starts as a throw-away cluster. Each test gets a database of
/// its own, copied from one that the schema's migrations set up once per test run. Without a server the tests that need
/// one fail, saying how to start one; they are never skipped.
/// </summary>
public static class TestPostgres
{
    public const string Variable = "FLUXSTUDIO_TEST_POSTGRES";

    public static string HowToStart =>
        $"These tests need PostgreSQL, and {Variable} names none. ./test.sh starts a throw-away cluster for them; to run them " +
        $"alone, start one with eval \"$(tests/postgres-cluster.sh start)\" (it exports {Variable}; tests/postgres-cluster.sh stop " +
        "removes it), or set it to a connection string of a server whose user may create databases.";

    private static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } configured ? configured : throw new InvalidOperationException(HowToStart);

    private static readonly Lazy<string> MigratedTemplate = new(() =>
    {
        var connectionString = CreateDatabase(template: null);
        using (var database = new PostgresStudioDatabase(connectionString))
            database.MigrateAsync(CancellationToken.None).GetAwaiter().GetResult();
        using (var pooled = new NpgsqlConnection(connectionString))
            NpgsqlConnection.ClearPool(pooled);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DropDatabase(connectionString);
        return new NpgsqlConnectionStringBuilder(connectionString).Database!;
    });

    /// <summary>Creates a database with the current schema (or an empty one) and returns its connection string.</summary>
    public static string CreateDatabase(bool empty = false) => CreateDatabase(empty ? null : MigratedTemplate.Value);

    private static string CreateDatabase(string? template)
    {
        var name = "fluxstudio_test_" + Guid.NewGuid().ToString("N");
        try
        {
            using var connection = new NpgsqlConnection(AdminConnectionString);
            connection.Open();
            using var command = new NpgsqlCommand(
                template is null ? $"CREATE DATABASE {name}" : $"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY", connection);
            command.ExecuteNonQuery();
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException($"The PostgreSQL server of {Variable} cannot be used ({ex.Message}). {HowToStart}", ex);
        }
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Drops a database <see cref="CreateDatabase"/> made, closing what is still connected to it.</summary>
    public static void DropDatabase(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        using (var pooled = new NpgsqlConnection(connectionString))
            NpgsqlConnection.ClearPool(pooled);
        using var connection = new NpgsqlConnection(AdminConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        command.ExecuteNonQuery();
    }
}

/// <summary>Runs a theory once per database provider: SQLite, then PostgreSQL.</summary>
public sealed class BothDatabasesAttribute : Xunit.Sdk.DataAttribute
{
    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) =>
        [[DatabaseOptions.Sqlite], [DatabaseOptions.Postgres]];
}
