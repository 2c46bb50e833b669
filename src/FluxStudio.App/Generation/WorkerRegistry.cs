using System.Text.Json;
using Dapper;
using FluxStudio.App.Data;

namespace FluxStudio.App.Generation;

/// <summary>
/// The <c>workers</c> table: each worker of a shared queue says who it is, on which device, with how much memory, and
/// what it can run, and renews its row while it lives; a worker that stops removes it. Others read it to tell which
/// workers are alive and whether any can run a job.
/// </summary>
public sealed class WorkerRegistry(StudioDatabase database)
{
    /// <summary>Adds or renews the worker's row.</summary>
    public async Task AnnounceAsync(WorkerProfile worker, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO workers (id, name, device, memory_bytes, capacities, started_at, seen_at)
            VALUES (@Id, @Name, @Device, @MemoryBytes, @capacities, @now, @now)
            ON CONFLICT (id) DO UPDATE SET seen_at = @now
            """,
            new { worker.Id, worker.Name, worker.Device, worker.MemoryBytes, capacities = JsonSerializer.Serialize(worker.Capacities ?? []),
                  now = database.Sql.Timestamp(now) }, cancellationToken: ct));
    }

    public async Task RemoveAsync(WorkerProfile worker, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM workers WHERE id = @Id", new { worker.Id }, cancellationToken: ct));
    }

    /// <summary>
    /// The workers seen since <paramref name="since"/>, oldest first; rows of workers not seen since then are removed. None
    /// on one machine, whose workers run any job and need not say so.
    /// </summary>
    public async Task<IReadOnlyList<WorkerProfile>> ListLiveAsync(DateTimeOffset since, CancellationToken ct)
    {
        if (!database.IsShared)
            return [];
        await using var connection = await database.OpenAsync(ct);
        var cutoff = database.Sql.Timestamp(since);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM workers WHERE seen_at < @cutoff", new { cutoff }, cancellationToken: ct));
        var rows = await connection.QueryAsync<WorkerRow>(new CommandDefinition(
            "SELECT id AS Id, name AS Name, device AS Device, memory_bytes AS MemoryBytes, capacities AS Capacities FROM workers ORDER BY started_at, id",
            cancellationToken: ct));
        return rows.Select(r => new WorkerProfile(r.Id, r.Name, r.Device, r.MemoryBytes,
            JsonSerializer.Deserialize<List<ModelCapacity>>(r.Capacities) ?? [])).ToList();
    }

    private sealed class WorkerRow
    {
        public string Id { get; init; } = "";
        public string Name { get; init; } = "";
        public string Device { get; init; } = "";
        public long? MemoryBytes { get; init; }
        public string Capacities { get; init; } = "[]";
    }
}
