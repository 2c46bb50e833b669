using System.Text.Json;
using System.Text.Json.Serialization;
using Dapper;
using FluxStudio.App.Data;
using FluxStudio.App.History;

namespace FluxStudio.App.Generation;

/// <summary>
/// The <c>jobs</c> table: the queue's state, in the same database as history. The only code that reads or writes jobs;
/// claiming is one atomic statement, so several workers (threads or processes) never take the same job.
/// </summary>
public sealed class JobStore(StudioDatabase database)
{
    private static readonly JsonSerializerOptions RequestJson = new()
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private const string Columns =
        "id AS Id, status AS Status, request_json AS RequestJson, device AS Device, attempts AS Attempts, error AS Error, " +
        "image_id AS ImageId, image_ids AS ImageIds, warnings AS Warnings, created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt";

    /// <summary>Adds a job unless <paramref name="maxLength"/> jobs are already waiting or running; null when full.</summary>
    public async Task<GenerationJob?> AddAsync(GenerationRequest request, int maxLength, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        // BEGIN IMMEDIATE: the count and the insert happen under one write lock, so two callers cannot both
        // take the last place.
        await using var transaction = connection.BeginTransaction();
        var active = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')", transaction: transaction, cancellationToken: ct));
        if (active >= maxLength)
            return null;
        var row = await connection.QuerySingleAsync<JobRow>(new CommandDefinition(
            $"INSERT INTO jobs (status, request_json, created_at) VALUES ('queued', @json, @now) RETURNING {Columns}",
            new { json = Serialize(request), now = HistoryStore.FormatTimestamp(now) }, transaction, cancellationToken: ct));
        await transaction.CommitAsync(ct);
        return ToJob(row);
    }

    /// <summary>Marks the oldest queued job as running on <paramref name="device"/> and returns it.</summary>
    public async Task<GenerationJob?> ClaimNextAsync(string device, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<JobRow>(new CommandDefinition(
            $"""
            UPDATE jobs SET status = 'running', device = @device, attempts = attempts + 1, started_at = @now, error = NULL
            WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1)
            RETURNING {Columns}
            """, new { device, now = HistoryStore.FormatTimestamp(now) }, cancellationToken: ct));
        return row is null ? null : ToJob(row);
    }

    /// <summary>Moves a job from one of <paramref name="from"/> to <paramref name="to"/>; false when it was in none of them.</summary>
    public async Task<bool> TransitionAsync(long id, JobStatus[] from, JobStatus to, DateTimeOffset? finishedAt, string? error,
        long? imageId, CancellationToken ct, IReadOnlyList<string>? warnings = null)
    {
        await using var connection = await database.OpenAsync(ct);
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE jobs SET status = @to, error = @error, image_id = COALESCE(@imageId, image_id),
                finished_at = COALESCE(@finishedAt, finished_at), warnings = COALESCE(@warnings, warnings)
            WHERE id = @id AND status IN @from
            """,
            new
            {
                id,
                to = Name(to),
                from = from.Select(Name).ToArray(),
                error,
                imageId,
                finishedAt = finishedAt is { } f ? HistoryStore.FormatTimestamp(f) : null,
                warnings = warnings is null ? null : JsonSerializer.Serialize(warnings),
            }, cancellationToken: ct));
        return changed > 0;
    }

    /// <summary>Records an image the job has made (the first also becomes its <see cref="GenerationJob.ImageId"/>).</summary>
    public async Task AddImageAsync(long id, long imageId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE jobs SET image_ids = json_insert(image_ids, '$[#]', @imageId), image_id = COALESCE(image_id, @imageId) WHERE id = @id",
            new { id, imageId }, cancellationToken: ct));
    }

    public async Task<GenerationJob?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<JobRow>(new CommandDefinition(
            $"SELECT {Columns} FROM jobs WHERE id = @id", new { id }, cancellationToken: ct));
        return row is null ? null : ToJob(row);
    }

    public async Task<IReadOnlyList<GenerationJob>> ListAsync(JobStatus[] statuses, int limit, bool newestFirst, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<JobRow>(new CommandDefinition(
            $"SELECT {Columns} FROM jobs WHERE status IN @statuses ORDER BY id {(newestFirst ? "DESC" : "ASC")} LIMIT @limit",
            new { statuses = statuses.Select(Name).ToArray(), limit }, cancellationToken: ct));
        return rows.Select(ToJob).ToList();
    }

    internal static string Name(JobStatus status) => status.ToString().ToLowerInvariant();

    internal static string Serialize(GenerationRequest request) => JsonSerializer.Serialize(request, RequestJson);

    private static GenerationJob ToJob(JobRow row) => new()
    {
        Id = row.Id,
        Status = Enum.Parse<JobStatus>(row.Status, ignoreCase: true),
        Request = JsonSerializer.Deserialize<GenerationRequest>(row.RequestJson, RequestJson)
                  ?? throw new InvalidDataException($"Job {row.Id} has no request."),
        Device = row.Device,
        Attempts = (int)row.Attempts,
        Error = row.Error,
        ImageId = row.ImageId,
        ImageIds = JsonSerializer.Deserialize<long[]>(row.ImageIds) ?? [],
        Warnings = JsonSerializer.Deserialize<string[]>(row.Warnings) ?? [],
        CreatedAt = HistoryStore.ParseTimestamp(row.CreatedAt),
        StartedAt = row.StartedAt is null ? null : HistoryStore.ParseTimestamp(row.StartedAt),
        FinishedAt = row.FinishedAt is null ? null : HistoryStore.ParseTimestamp(row.FinishedAt),
    };

    private sealed class JobRow
    {
        public long Id { get; init; }
        public string Status { get; init; } = "";
        public string RequestJson { get; init; } = "";
        public string? Device { get; init; }
        public long Attempts { get; init; }
        public string? Error { get; init; }
        public long? ImageId { get; init; }
        public string ImageIds { get; init; } = "[]";
        public string Warnings { get; init; } = "[]";
        public string CreatedAt { get; init; } = "";
        public string? StartedAt { get; init; }
        public string? FinishedAt { get; init; }
    }
}
