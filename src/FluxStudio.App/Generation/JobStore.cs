using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dapper;
using FluxStudio.App.Data;

namespace FluxStudio.App.Generation;

/// <summary>
/// The <c>jobs</c> table: the queue's state, in the same database as history (SQLite or PostgreSQL). The only code that
/// reads or writes jobs. A claim is one atomic statement (in PostgreSQL with <c>FOR UPDATE SKIP LOCKED</c>), so several
/// workers, in threads, processes or on other machines, never take the same job; it takes only a job the worker can
/// run (<see cref="WorkerProfile.Capacities"/>), and makes the job the worker's for a lease that the worker renews.
/// Every change a run makes to its job is conditional on still holding that claim.
/// </summary>
public sealed class JobStore(StudioDatabase database)
{
    private static readonly JsonSerializerOptions RequestJson = new()
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private const string Columns =
        "id AS Id, status AS Status, request_json AS RequestJson, device AS Device, worker AS Worker, attempts AS Attempts, error AS Error, " +
        "image_id AS ImageId, image_ids AS ImageIds, warnings AS Warnings, created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt, " +
        "claim AS Claim, cancel_requested AS CancelRequested";

    private SqlDialect Sql => database.Sql;

    /// <summary>Adds a job unless <paramref name="maxLength"/> jobs are already waiting or running; null when full.</summary>
    public async Task<GenerationJob?> AddAsync(GenerationRequest request, int maxLength, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        // The count and the insert happen in one transaction that holds the queue (SQLite's write lock, an advisory lock in
        // PostgreSQL), so two callers cannot both take the last place.
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (Sql.LockQueue.Length > 0)
            await connection.ExecuteAsync(new CommandDefinition(Sql.LockQueue, transaction: transaction, cancellationToken: ct));
        var active = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')", transaction: transaction, cancellationToken: ct));
        if (active >= maxLength)
            return null;
        var needs = JobNeeds.Of(request);
        var row = await connection.QuerySingleAsync<JobRow>(new CommandDefinition(
            $"""
            INSERT INTO jobs (status, request_json, model, quantize, pixels, controlnet, created_at)
            VALUES ('queued', @json, @model, @quantize, @pixels, @controlNet, @now)
            RETURNING {Columns}
            """,
            new
            {
                json = Serialize(request), model = needs.Model, quantize = needs.Quantize, pixels = needs.Pixels, controlNet = needs.ControlNet,
                now = Sql.Timestamp(now),
            },
            transaction, cancellationToken: ct));
        if (database.IsShared)
        {
            // Workers on other machines cannot read this machine's files: the pictures go with the job, until it ends.
            foreach (var path in request.InputPicturePaths())
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO job_pictures (job_id, path, picture) VALUES (@id, @path, @picture) ON CONFLICT DO NOTHING",
                    new { id = row.Id, path, picture = await File.ReadAllBytesAsync(path, ct) }, transaction, cancellationToken: ct));
        }
        await transaction.CommitAsync(ct);
        return ToJob(row);
    }

    /// <summary>
    /// The pictures a job starts from, by the paths its request names them, as they were when it was queued; empty on one
    /// machine (SQLite), where the files themselves are read.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, byte[]>> GetPicturesAsync(long id, CancellationToken ct)
    {
        if (!database.IsShared)
            return new Dictionary<string, byte[]>();
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Path, byte[] Picture)>(new CommandDefinition(
            "SELECT path, picture FROM job_pictures WHERE job_id = @id", new { id }, cancellationToken: ct));
        return rows.ToDictionary(row => row.Path, row => row.Picture);
    }

    /// <summary>
    /// Makes the oldest queued job that <paramref name="worker"/> can run its own (status running, a new claim token, a
    /// lease of <paramref name="lease"/>) and returns it; null when no such job waits.
    /// </summary>
    public async Task<GenerationJob?> ClaimNextAsync(WorkerProfile worker, DateTimeOffset now, TimeSpan lease, CancellationToken ct)
    {
        var parameters = new DynamicParameters(new
        {
            device = worker.Device,
            worker = worker.Name,
            claim = Guid.NewGuid().ToString("N"),
            now = Sql.Timestamp(now),
            leaseUntil = Sql.Timestamp(now + lease),
            lease,
        });
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<JobRow>(new CommandDefinition(
            $"""
            UPDATE jobs SET status = 'running', device = @device, worker = @worker, attempts = attempts + 1, started_at = @now, error = NULL,
                claim = @claim, lease_expires_at = {Sql.LeaseUntil}
            WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND {FitCondition(worker.Capacities, parameters)} ORDER BY id LIMIT 1 {Sql.SkipLocked})
            RETURNING {Columns}
            """, parameters, cancellationToken: ct));
        return row is null ? null : ToJob(row);
    }

    /// <summary>
    /// Extends the lease of a run; null when the run no longer holds its job, else whether someone asked to cancel it.
    /// </summary>
    public async Task<bool?> RenewAsync(long id, string claim, DateTimeOffset now, TimeSpan lease, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            $"""
            UPDATE jobs SET lease_expires_at = {Sql.LeaseUntil}
            WHERE id = @id AND claim = @claim AND status = 'running'
            RETURNING cancel_requested
            """, new { id, claim, leaseUntil = Sql.Timestamp(now + lease), lease }, cancellationToken: ct));
    }

    /// <summary>
    /// Inside the transaction that saves one of its images: records the image with the run's job (the first also becomes its
    /// <see cref="GenerationJob.ImageId"/>), if the run still holds the job.
    /// </summary>
    public async Task<bool> AddImageAsync(DbTransaction transaction, long id, string claim, long imageId, CancellationToken ct) =>
        await transaction.Connection!.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE jobs SET image_ids = {Sql.AppendToJsonArray("image_ids", "imageId")}, image_id = COALESCE(image_id, @imageId)
            WHERE id = @id AND claim = @claim AND status = 'running'
            """,
            new { id, claim, imageId }, transaction, cancellationToken: ct)) == 1;

    /// <summary>
    /// Ends a run (done with the <paramref name="warnings"/> of its images, failed, cancelled, interrupted), if it still
    /// holds its job.
    /// </summary>
    public async Task<bool> EndRunAsync(long id, string claim, JobStatus to, DateTimeOffset? finishedAt, string? error, CancellationToken ct,
        IReadOnlyList<string>? warnings = null)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE jobs SET status = @to, error = @error, finished_at = @finishedAt, warnings = COALESCE(@warnings, warnings),
                claim = NULL, lease_expires_at = NULL
            WHERE id = @id AND claim = @claim AND status = 'running'
            """,
            new
            {
                id, claim, to = Name(to), error, finishedAt = finishedAt is { } f ? Sql.Timestamp(f) : null,
                warnings = warnings is null ? null : JsonSerializer.Serialize(warnings),
            }, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Takes a job out of a run that no longer runs it (interrupted, or its worker gone): to <paramref name="to"/>, if it
    /// is still in the state and attempt <paramref name="job"/> saw, and, with <paramref name="onlyIfExpired"/>, if a
    /// running job's lease has run out by the database's clock.
    /// </summary>
    public async Task<bool> ReleaseAsync(GenerationJob job, JobStatus to, DateTimeOffset now, string? error, bool onlyIfExpired,
        CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE jobs SET status = @to, error = @error, finished_at = @finishedAt, claim = NULL, lease_expires_at = NULL
            WHERE id = @id AND status = @status AND attempts = @attempts
              {(onlyIfExpired ? $"AND (status <> 'running' OR lease_expires_at < {Sql.Now})" : "")}
            """,
            new
            {
                id = job.Id,
                status = Name(job.Status),
                attempts = job.Attempts,
                to = Name(to),
                error,
                finishedAt = to is JobStatus.Queued ? null : Sql.Timestamp(now),
                now = Sql.Timestamp(now),
            }, cancellationToken: ct)) == 1;
    }

    /// <summary>Jobs whose run has ended without ending them: running ones whose lease ran out, and interrupted ones.</summary>
    public async Task<IReadOnlyList<GenerationJob>> ListStrandedAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<JobRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM jobs
            WHERE (status = 'running' AND lease_expires_at < {Sql.Now}) OR status = 'interrupted'
            ORDER BY id
            """, new { now = Sql.Timestamp(now) }, cancellationToken: ct));
        return rows.Select(ToJob).ToList();
    }

    /// <summary>Moves a queued or finished job from one of <paramref name="from"/> to <paramref name="to"/>; false when it was in none of them.</summary>
    public async Task<bool> TransitionAsync(long id, JobStatus[] from, JobStatus to, DateTimeOffset? finishedAt, string? error, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE jobs SET status = @to, error = @error, finished_at = COALESCE(@finishedAt, finished_at), claim = NULL, lease_expires_at = NULL
            WHERE id = @id AND {Sql.IsIn("status", "from")}
            """,
            new { id, to = Name(to), from = from.Select(Name).ToArray(), error, finishedAt = finishedAt is { } f ? Sql.Timestamp(f) : null },
            cancellationToken: ct));
        return changed > 0;
    }

    /// <summary>
    /// Asks the run of a running job to stop: the flag is in the row, so a worker in another process or on another machine
    /// reads it when it renews its lease (and PostgreSQL announces it at once). False when the job is not running.
    /// </summary>
    public async Task<bool> RequestCancelAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE jobs SET cancel_requested = @yes WHERE id = @id AND status = 'running'", new { id, yes = true }, cancellationToken: ct)) == 1;
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
            $"SELECT {Columns} FROM jobs WHERE {Sql.IsIn("status", "statuses")} ORDER BY id {(newestFirst ? "DESC" : "ASC")} LIMIT @limit",
            new { statuses = statuses.Select(Name).ToArray(), limit }, cancellationToken: ct));
        return rows.Select(ToJob).ToList();
    }

    /// <summary>
    /// The jobs a worker with <paramref name="capacities"/> can run, as a condition on the job's needs; null capacities run
    /// anything. Parameters are added for each capacity, so the statement carries no value of its own.
    /// </summary>
    internal static string FitCondition(IReadOnlyList<ModelCapacity>? capacities, DynamicParameters parameters)
    {
        if (capacities is null)
            return "1 = 1";
        if (capacities.Count == 0)
            return "1 = 0";
        var alternatives = capacities.Select((capacity, i) =>
        {
            parameters.Add($"model{i}", capacity.Model);
            parameters.Add($"quantize{i}", capacity.Quantize ?? 0);
            var condition = $"(model = @model{i} AND COALESCE(quantize, 0) = @quantize{i}";
            if (capacity.MaxPixels is { } maxPixels)
            {
                parameters.Add($"pixels{i}", maxPixels);
                condition += $" AND pixels <= @pixels{i}";
            }
            if (!capacity.ControlNet)
            {
                parameters.Add("unguided", false);
                condition += " AND controlnet = @unguided";
            }
            return condition + ")";
        });
        return "(" + string.Join(" OR ", alternatives) + ")";
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
        Worker = row.Worker,
        Attempts = (int)row.Attempts,
        Error = row.Error,
        ImageId = row.ImageId,
        ImageIds = JsonSerializer.Deserialize<long[]>(row.ImageIds) ?? [],
        Warnings = JsonSerializer.Deserialize<string[]>(row.Warnings) ?? [],
        CreatedAt = SqlDialect.ReadTimestamp(row.CreatedAt),
        StartedAt = row.StartedAt is null ? null : SqlDialect.ReadTimestamp(row.StartedAt),
        FinishedAt = row.FinishedAt is null ? null : SqlDialect.ReadTimestamp(row.FinishedAt),
        Claim = row.Claim,
        CancelRequested = row.CancelRequested,
    };

    private sealed class JobRow
    {
        public long Id { get; init; }
        public string Status { get; init; } = "";
        public string RequestJson { get; init; } = "";
        public string? Device { get; init; }
        public string? Worker { get; init; }
        public long Attempts { get; init; }
        public string? Error { get; init; }
        public long? ImageId { get; init; }
        public string ImageIds { get; init; } = "[]";
        public string Warnings { get; init; } = "[]";

        /// <summary>Timestamps: text in SQLite, times in PostgreSQL (<see cref="SqlDialect.ReadTimestamp"/>).</summary>
        public object CreatedAt { get; init; } = "";
        public object? StartedAt { get; init; }
        public object? FinishedAt { get; init; }
        public string? Claim { get; init; }
        public bool CancelRequested { get; init; }
    }
}
