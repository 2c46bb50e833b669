using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dapper;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Training;

/// <summary>
/// The studio's training runs: each a row of <c>training_runs</c>, in the same database as history and the queue (SQLite
/// or PostgreSQL), and a folder under <see cref="StudioOptions.ResolveTrainingFolder"/> holding <c>train.json</c> (the
/// configuration, its images in <c>images/</c> and its outputs in <c>out/</c>, both relative to it, so a run folder can be
/// moved or trained from the command line as it is). The row is the run's state; a claim makes a run a worker's for a
/// lease the worker renews, taken with one atomic statement (in PostgreSQL with <c>FOR UPDATE SKIP LOCKED</c>), and every
/// change a worker makes to its run is conditional on still holding the claim. Runs of earlier versions, which kept
/// their state in <c>run.json</c>, are imported at the first use (the file is kept as <c>run.json.imported</c>).
/// </summary>
public sealed partial class TrainingRunStore(
    StudioDatabase database,
    IOptions<StudioOptions> options,
    TimeProvider? time = null,
    ILogger<TrainingRunStore>? logger = null)
{
    public const string ConfigFileName = "train.json";
    public const string ImagesFolderName = "images";
    public const string OutputFolderName = "out";
    private const string LegacyRunFileName = "run.json";

    private const string Columns =
        "id AS Id, status AS Status, created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt, step AS Step, " +
        "total_steps AS TotalSteps, last_loss AS LastLoss, error AS Error, warnings AS Warnings, resume_from AS ResumeFrom, " +
        "model_path AS ModelPath, attempts AS Attempts, crashes AS Crashes, lora_name AS LoraName, activation_keyword AS ActivationKeyword, " +
        "device AS Device, worker AS Worker, claim AS Claim, cancel_requested AS CancelRequested";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _logger = logger ?? NullLogger<TrainingRunStore>.Instance;
    private readonly SemaphoreSlim _importGate = new(1, 1);
    private volatile bool _imported;

    private SqlDialect Sql => database.Sql;

    public string Root => options.Value.ResolveTrainingFolder();

    /// <summary>The folder of run <paramref name="id"/>; null when the id is not one this store makes (so never a path outside).</summary>
    public string? FolderOf(string id) => RunId().IsMatch(id) ? Path.Combine(Root, id) : null;

    public string ConfigPath(string id) => Path.Combine(FolderOf(id)!, ConfigFileName);

    public TrainingOutputFolder Output(string id) => new(Path.Combine(FolderOf(id)!, OutputFolderName));

    /// <summary>
    /// A new run's folder with its images and configuration (the examples path and output path set to the run's own
    /// folders); the run is not stored until <see cref="AddAsync"/>.
    /// </summary>
    /// <param name="images">File names (as the configuration lists them, no folders) and their bytes.</param>
    public async Task<string> CreateFolderAsync(JsonObject config, IReadOnlyList<(string Name, byte[] Bytes)> images, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        string id, folder;
        do
        {
            id = $"{now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..6]}";
            folder = Path.Combine(Root, id);
        } while (Directory.Exists(folder));
        Directory.CreateDirectory(Path.Combine(folder, ImagesFolderName));
        foreach (var (name, bytes) in images)
        {
            if (Path.GetFileName(name) != name || name is "." or "..")
                throw new ArgumentException($"\"{name}\" is not a plain file name.", nameof(images));
            await File.WriteAllBytesAsync(Path.Combine(folder, ImagesFolderName, name), bytes, ct);
        }
        var examples = config["examples"] as JsonObject ?? throw new ArgumentException("The configuration has no examples section.", nameof(config));
        examples["path"] = ImagesFolderName;
        (config["save"] ??= new JsonObject())["output_path"] = OutputFolderName;
        await File.WriteAllTextAsync(Path.Combine(folder, ConfigFileName), config.ToJsonString(Json), ct);
        return id;
    }

    /// <summary>What a run needs of a worker: its model (as <see cref="JobNeeds.Model"/> names it) and quantization.</summary>
    public static (string Model, int? Quantize) NeedsOf(string? modelAlias, int? quantize, string? modelPath) =>
        (JobNeeds.ModelKey(modelPath, FluxVariants.TryParse(modelAlias ?? "dev", out var variant) ? variant : FluxVariant.Dev), quantize);

    /// <summary>Stores a new run (queued, as <paramref name="run"/> says).</summary>
    public async Task AddAsync(TrainingRun run, string model, int? quantize, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(InsertSql, InsertParameters(run, model, quantize), cancellationToken: ct));
    }

    public async Task<TrainingRun?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM training_runs WHERE id = @id", new { id }, cancellationToken: ct));
        return row is null ? null : ToRun(row);
    }

    /// <summary>Every stored run, newest first.</summary>
    public async Task<IReadOnlyList<TrainingRun>> ListAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM training_runs ORDER BY created_at DESC, id DESC", cancellationToken: ct));
        return [.. rows.Select(ToRun)];
    }

    /// <summary>
    /// Makes the oldest queued run that <paramref name="worker"/> has the model for its own (running, one more attempt, a new
    /// claim, a lease of <paramref name="lease"/>) and returns it; null when no such run waits.
    /// </summary>
    public async Task<TrainingRun?> ClaimNextAsync(WorkerProfile worker, DateTimeOffset now, TimeSpan lease, CancellationToken ct)
    {
        var parameters = new DynamicParameters(new
        {
            device = worker.Device, worker = worker.Name, claim = Guid.NewGuid().ToString("N"), now = Sql.Timestamp(now),
            leaseUntil = Sql.Timestamp(now + lease), lease, no = false,
        });
        await using var connection = await OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"""
            UPDATE training_runs SET status = 'running', device = @device, worker = @worker, attempts = attempts + 1, started_at = @now,
                error = NULL, finished_at = NULL, claim = @claim, lease_expires_at = {Sql.LeaseUntil}, cancel_requested = @no
            WHERE id = (SELECT id FROM training_runs WHERE status = 'queued' AND {JobStore.FitCondition(ModelOnly(worker.Capacities), parameters)}
                        ORDER BY created_at, id LIMIT 1 {Sql.SkipLocked})
            RETURNING {Columns}
            """, parameters, cancellationToken: ct));
        return row is null ? null : ToRun(row);
    }

    /// <summary>Extends the lease of a run; null when the worker no longer holds it, else whether someone asked to cancel it.</summary>
    public async Task<bool?> RenewAsync(string id, string claim, DateTimeOffset now, TimeSpan lease, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            $"""
            UPDATE training_runs SET lease_expires_at = {Sql.LeaseUntil}
            WHERE id = @id AND claim = @claim AND status = 'running'
            RETURNING cancel_requested
            """, new { id, claim, leaseUntil = Sql.Timestamp(now + lease), lease }, cancellationToken: ct));
    }

    /// <summary>Records a checkpoint the run has just written (the next attempt continues from it), if the worker still holds the run.</summary>
    public async Task<bool> RecordCheckpointAsync(TrainingRun run, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE training_runs SET step = @Step, total_steps = @TotalSteps, last_loss = @LastLoss, resume_from = @resumeFrom
            WHERE id = @Id AND claim = @Claim AND status = 'running'
            """, new { run.Step, run.TotalSteps, run.LastLoss, resumeFrom = Relative(run.Id, run.ResumeFrom), run.Id, run.Claim },
            cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Ends a worker's run as <paramref name="ended"/> says (done, failed, cancelled; or still running without a worker,
    /// when the worker stops and leaves it to the next), if the worker still holds it (<see cref="TrainingRun.Claim"/>).
    /// </summary>
    public Task<bool> EndRunAsync(TrainingRun ended, CancellationToken ct) =>
        UpdateAsync(ended with { Claim = null }, "claim = @seenClaim AND status = 'running'", new { seenClaim = ended.Claim }, ct);

    /// <summary>
    /// Moves a run that no worker runs any more (or one queued, cancelled or failed) to <paramref name="next"/>, if it is
    /// still in the state and attempt <paramref name="seen"/> was, and, with <paramref name="onlyIfStranded"/>, if no
    /// worker holds it: its claim let go or its lease run out by the database's clock.
    /// </summary>
    public Task<bool> MoveAsync(TrainingRun seen, TrainingRun next, bool onlyIfStranded, DateTimeOffset now, CancellationToken ct) =>
        UpdateAsync(next with { Claim = null },
            "status = @seenStatus AND attempts = @seenAttempts" + (onlyIfStranded ? $" AND (claim IS NULL OR lease_expires_at < {Sql.Now})" : ""),
            new { seenStatus = Name(seen.Status), seenAttempts = seen.Attempts, now = Sql.Timestamp(now) }, ct);

    /// <summary>Running runs no worker holds: let go by a worker that stopped, or whose worker's lease ran out.</summary>
    public async Task<IReadOnlyList<TrainingRun>> ListStrandedAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM training_runs
            WHERE status = 'running' AND (claim IS NULL OR lease_expires_at < {Sql.Now})
            ORDER BY created_at, id
            """, new { now = Sql.Timestamp(now) }, cancellationToken: ct));
        return [.. rows.Select(ToRun)];
    }

    /// <summary>
    /// Asks the worker of a running run to stop: the flag is in the row, which the worker reads when it renews its lease
    /// (and PostgreSQL announces at once). False when the run is not running.
    /// </summary>
    public async Task<bool> RequestCancelAsync(string id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE training_runs SET cancel_requested = @yes WHERE id = @id AND status = 'running'", new { id, yes = true },
            cancellationToken: ct)) == 1;
    }

    private async Task<bool> UpdateAsync(TrainingRun run, string condition, object conditionParameters, CancellationToken ct)
    {
        var parameters = new DynamicParameters(conditionParameters);
        parameters.AddDynamicParams(new
        {
            run.Id, status = Name(run.Status), run.Step, run.TotalSteps, run.LastLoss, run.Error, run.Crashes, run.LoraName, run.ActivationKeyword,
            run.Claim, resumeFrom = Relative(run.Id, run.ResumeFrom), warnings = JsonSerializer.Serialize(run.Warnings),
            finishedAt = run.FinishedAt is { } f ? Sql.Timestamp(f) : null, no = false,
        });
        await using var connection = await OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE training_runs SET status = @status, step = @Step, total_steps = @TotalSteps, last_loss = @LastLoss, error = @Error,
                warnings = @warnings, resume_from = @resumeFrom, finished_at = @finishedAt, crashes = @Crashes, lora_name = @LoraName,
                activation_keyword = @ActivationKeyword, claim = @Claim, lease_expires_at = NULL, cancel_requested = @no
            WHERE id = @Id AND {condition}
            """, parameters, cancellationToken: ct)) == 1;
    }

    /// <summary>A connection to an up-to-date database into which the run folders of earlier versions have been imported.</summary>
    private async Task<System.Data.Common.DbConnection> OpenAsync(CancellationToken ct)
    {
        if (!_imported)
            await ImportFoldersAsync(ct);
        return await database.OpenAsync(ct);
    }

    /// <summary>
    /// Imports the runs earlier versions kept in <c>run.json</c>, once: a run already in the database is left as it is, and
    /// the file is renamed to <c>run.json.imported</c> (kept, never deleted). A file that cannot be read stays where it is.
    /// </summary>
    private async Task ImportFoldersAsync(CancellationToken ct)
    {
        await _importGate.WaitAsync(ct);
        try
        {
            if (_imported)
                return;
            var files = Directory.Exists(Root)
                ? Directory.EnumerateDirectories(Root).Select(folder => Path.Combine(folder, LegacyRunFileName)).Where(File.Exists).ToList()
                : [];
            if (files.Count > 0)
            {
                await using var connection = await database.OpenAsync(ct);
                foreach (var file in files)
                    await ImportAsync(connection, file, ct);
            }
            _imported = true;
        }
        finally
        {
            _importGate.Release();
        }
    }

    private async Task ImportAsync(System.Data.Common.DbConnection connection, string file, CancellationToken ct)
    {
        TrainingRun run;
        (string Model, int? Quantize) needs;
        try
        {
            run = JsonSerializer.Deserialize<TrainingRun>(await File.ReadAllBytesAsync(file, ct), Json)
                  ?? throw new JsonException("The file holds no run.");
            if (FolderOf(run.Id) is not { } folder || !Path.GetFullPath(folder).Equals(Path.GetDirectoryName(file), StringComparison.Ordinal))
                throw new JsonException($"The file names run \"{run.Id}\", not its own folder's.");
            var config = JsonNode.Parse(await File.ReadAllTextAsync(ConfigPath(run.Id), ct),
                documentOptions: new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            needs = NeedsOf(config?["model"]?.GetValue<string>(), config?["quantize"]?.GetValue<int?>(), run.ModelPath);
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or FormatException)
        {
            _logger.LogWarning("The training run in {File} could not be imported ({Reason}); it stays as it is", file, e.Message);
            return;
        }
        await connection.ExecuteAsync(new CommandDefinition(InsertSql + " ON CONFLICT (id) DO NOTHING",
            InsertParameters(run, needs.Model, needs.Quantize), cancellationToken: ct));
        try
        {
            File.Move(file, file + ".imported", overwrite: true);
        }
        catch (IOException)
        {
            // Another process imported it at the same moment; the row is there either way.
        }
        _logger.LogInformation("Training run {Id} imported from {File}", run.Id, file);
    }

    private const string InsertSql =
        """
        INSERT INTO training_runs (id, status, created_at, started_at, finished_at, step, total_steps, last_loss, error, warnings, resume_from,
            model_path, model, quantize, attempts, crashes, lora_name, activation_keyword)
        VALUES (@Id, @status, @createdAt, @startedAt, @finishedAt, @Step, @TotalSteps, @LastLoss, @Error, @warnings, @resumeFrom,
            @ModelPath, @model, @quantize, @Attempts, @Crashes, @LoraName, @ActivationKeyword)
        """;

    private object InsertParameters(TrainingRun run, string model, int? quantize) => new
    {
        run.Id, status = Name(run.Status), createdAt = Sql.Timestamp(run.CreatedAt), startedAt = run.StartedAt is { } s ? Sql.Timestamp(s) : null,
        finishedAt = run.FinishedAt is { } f ? Sql.Timestamp(f) : null, run.Step, run.TotalSteps, run.LastLoss, run.Error,
        warnings = JsonSerializer.Serialize(run.Warnings), resumeFrom = Relative(run.Id, run.ResumeFrom), run.ModelPath, model, quantize,
        run.Attempts, run.Crashes, run.LoraName, run.ActivationKeyword,
    };

    /// <summary>
    /// A checkpoint path as the row keeps it: relative to the run's folder when inside it, so machines that mount the
    /// training folder elsewhere still find it.
    /// </summary>
    private string? Relative(string id, string? path)
    {
        if (path is null || FolderOf(id) is not { } folder)
            return path;
        var relative = Path.GetRelativePath(folder, Path.GetFullPath(path));
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : relative;
    }

    private TrainingRun ToRun(Row row) => new()
    {
        Id = row.Id,
        Status = Enum.Parse<TrainingRunStatus>(row.Status, ignoreCase: true),
        CreatedAt = SqlDialect.ReadTimestamp(row.CreatedAt),
        StartedAt = row.StartedAt is null ? null : SqlDialect.ReadTimestamp(row.StartedAt),
        FinishedAt = row.FinishedAt is null ? null : SqlDialect.ReadTimestamp(row.FinishedAt),
        Step = (int)row.Step,
        TotalSteps = (int)row.TotalSteps,
        LastLoss = row.LastLoss,
        Error = row.Error,
        Warnings = JsonSerializer.Deserialize<string[]>(row.Warnings) ?? [],
        ResumeFrom = row.ResumeFrom is null ? null : Path.GetFullPath(row.ResumeFrom, FolderOf(row.Id) ?? Root),
        ModelPath = row.ModelPath,
        Attempts = (int)row.Attempts,
        Crashes = (int)row.Crashes,
        LoraName = row.LoraName,
        ActivationKeyword = row.ActivationKeyword,
        Device = row.Device,
        Worker = row.Worker,
        Claim = row.Claim,
        CancelRequested = row.CancelRequested,
    };

    /// <summary>
    /// What a worker offers, as far as training goes: a run needs only the model at its quantization (workers do not
    /// estimate a training's memory), so the pixel limits and the ControlNet are left out of the claim's condition.
    /// </summary>
    private static List<ModelCapacity>? ModelOnly(IReadOnlyList<ModelCapacity>? capacities) =>
        capacities?.Select(c => c with { MaxPixels = null, ControlNet = true }).Distinct().ToList();

    internal static string Name(TrainingRunStatus status) => status.ToString().ToLowerInvariant();

    [GeneratedRegex(@"^\d{8}-\d{6}-[0-9a-f]{6}$")]
    private static partial Regex RunId();

    private sealed class Row
    {
        public string Id { get; init; } = "";
        public string Status { get; init; } = "";
        public object CreatedAt { get; init; } = "";
        public object? StartedAt { get; init; }
        public object? FinishedAt { get; init; }
        public long Step { get; init; }
        public long TotalSteps { get; init; }
        public double? LastLoss { get; init; }
        public string? Error { get; init; }
        public string Warnings { get; init; } = "[]";
        public string? ResumeFrom { get; init; }
        public string? ModelPath { get; init; }
        public long Attempts { get; init; }
        public long Crashes { get; init; }
        public string? LoraName { get; init; }
        public string? ActivationKeyword { get; init; }
        public string? Device { get; init; }
        public string? Worker { get; init; }
        public string? Claim { get; init; }
        public bool CancelRequested { get; init; }
    }
}
