using System.Data.Common;
using System.Text.Json;
using Dapper;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.History;

/// <summary>
/// History of generated images, in SQLite or PostgreSQL (<see cref="StudioDatabase"/>). Rows are identified by id (never
/// by list position), listing skips rows whose PNG is gone, and every change that touches files goes through a row
/// status (<see cref="HistoryStatus"/>) so <see cref="ReconcileAsync"/> can repair an interrupted save or delete.
/// Only files inside the output folder are stored, served or deleted (<see cref="ConfinedFolder"/>), whatever a row
/// says; the rows keep paths relative to it, so machines that mount one shared output folder at different places agree.
/// </summary>
public sealed class HistoryStore
{
    internal const string TempSuffix = ".partial";

    /// <summary>
    /// With a shared database, how old a save that no job owns (the CLI's) must be before a repair takes it for abandoned:
    /// a save takes seconds, and another machine may be in the middle of one.
    /// </summary>
    internal static readonly TimeSpan SharedSaveGrace = TimeSpan.FromMinutes(10);

    private readonly StudioDatabase _database;
    private readonly ConfinedFolder _folder;
    private readonly TimeProvider _time;
    private readonly ILogger<HistoryStore> _logger;

    public HistoryStore(StudioDatabase database, IOptions<StudioOptions> options, ILogger<HistoryStore>? logger = null, TimeProvider? time = null)
    {
        _database = database;
        _folder = new ConfinedFolder(options.Value.ResolveOutputRoot());
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<HistoryStore>.Instance;
    }

    private SqlDialect Sql => _database.Sql;

    internal CrashPoints CrashPoints { get; } = new();

    public string OutputRoot => _folder.Root;

    internal ConfinedFolder Folder => _folder;

    /// <summary>Adds a row for an image whose files are already in place, inside the output folder.</summary>
    public async Task<HistoryEntry> AddAsync(HistoryEntry entry, CancellationToken ct)
    {
        var id = await InsertAsync(entry with { Status = HistoryStatus.Saved }, null, ct)
                 ?? throw new InvalidOperationException($"History already has an image at {entry.ImagePath}.");
        return entry with { Id = id, Status = HistoryStatus.Saved };
    }

    /// <summary>Adds an imported row; false when history already holds that image file.</summary>
    internal async Task<bool> BeginImportAsync(HistoryEntry entry, CancellationToken ct) =>
        await InsertAsync(entry with { Status = HistoryStatus.Saved }, null, ct) is not null;

    /// <summary>
    /// Records an image about to be written (status <see cref="HistoryStatus.Saving"/>), with the claim of the job run
    /// that writes it, if any. Returns null when another row already owns that file name, so the caller can pick another.
    /// </summary>
    internal async Task<long?> BeginSaveAsync(HistoryEntry entry, string? claim, CancellationToken ct) =>
        await InsertAsync(entry with { Status = HistoryStatus.Saving }, claim, ct);

    /// <summary>
    /// Marks a save complete, in one transaction with <paramref name="claim"/>'s confirmation (its job becoming done) when
    /// it has one. False when the save must not count: the claim's run no longer holds its job, or the row is gone
    /// because a repair took the save for abandoned (a repair of a save no job owns that found the PNG in place has
    /// already marked it saved, which counts as success).
    /// </summary>
    internal async Task<bool> CompleteSaveAsync(long id, SaveClaim? claim, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (claim is not null && !await claim.ConfirmAsync(transaction, id, ct))
            return false;
        var saved = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE images SET status = 'saved', claim = NULL WHERE id = @id AND status IN ('saving', 'saved')", new { id }, transaction,
            cancellationToken: ct)) == 1;
        if (!saved)
            return false;
        await transaction.CommitAsync(ct);
        return true;
    }

    /// <summary>Removes a row whose files could not be written, with whatever files it left.</summary>
    internal async Task AbandonSaveAsync(long id, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var row = await GetRowAsync(connection, id, ct);
        if (row is null || row.Status != "saving")
            return;
        // Only temporary files: the caller removes the final files it created itself, and nothing else.
        foreach (var temp in TempFilesOf(ToEntry(row)))
            DeleteFile(temp);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM images WHERE id = @id", new { id }, cancellationToken: ct));
    }

    public async Task<HistoryPage> ListAsync(int limit, HistoryCursor? after, CancellationToken ct) =>
        await PageAsync(null, limit, after, ct);

    /// <summary>
    /// Full-text search over prompts (every word must match, as a word prefix), newest first: FTS5 in SQLite, a
    /// <c>tsvector</c> index in PostgreSQL.
    /// </summary>
    public async Task<HistoryPage> SearchAsync(string text, int limit, HistoryCursor? after, CancellationToken ct)
    {
        var match = Sql.SearchQuery(text);
        return match is null ? await ListAsync(limit, after, ct) : await PageAsync(match, limit, after, ct);
    }

    /// <summary>The saved entry with this id, or null.</summary>
    public async Task<HistoryEntry?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var row = await GetRowAsync(connection, id, ct);
        return row is { Status: "saved" } ? ToEntry(row) : null;
    }

    /// <summary>
    /// Opens the PNG of a saved entry for reading, or returns null when there is no such entry, its file is gone, or
    /// the row names a file outside the output folder (checked now, links followed, not when the row was written).
    /// </summary>
    public async Task<FileStream?> OpenImageAsync(long id, CancellationToken ct) =>
        await GetAsync(id, ct) is { } entry ? _folder.OpenRead(entry.ImagePath) : null;

    /// <summary>Opens the ControlNet edge map kept with a saved entry (checked like <see cref="OpenImageAsync"/>); null when it has none.</summary>
    public async Task<FileStream?> OpenControlNetCannyAsync(long id, CancellationToken ct) =>
        await GetAsync(id, ct) is { ControlNetCannyPath: { } canny } ? _folder.OpenRead(canny) : null;

    /// <summary>The saved images of a batch (<see cref="HistoryEntry.BatchId"/>), in the order they were made.</summary>
    public async Task<IReadOnlyList<HistoryEntry>> ListBatchAsync(string batchId, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var rows = await connection.QueryAsync<ImageRow>(new CommandDefinition(
            $"SELECT {Columns} FROM images WHERE batch_id = @batchId AND status = 'saved' ORDER BY id", new { batchId }, cancellationToken: ct));
        return rows.Select(ToEntry).ToList();
    }

    /// <summary>The entry's settings as readable <c>key: value</c> lines, or null when there is no such entry.</summary>
    public async Task<string?> GetDetailsAsync(long id, CancellationToken ct) =>
        await GetAsync(id, ct) is { } entry ? HistoryDetails.Format(entry) : null;

    /// <summary>Turns a history entry back into a request that generates the same image.</summary>
    public static GenerationRequest ToRequest(HistoryEntry entry) => HistoryDetails.ToRequest(entry);

    /// <summary>
    /// Deletes the image, its sidecar and its row. The row is marked first and removed last, so a crash in
    /// between leaves a marked row that <see cref="ReconcileAsync"/> finishes deleting. A file the row names outside
    /// the output folder is left alone; the row is removed and the message says so.
    /// </summary>
    public async Task<HistoryDeleteResult> DeleteAsync(long id, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var marked = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE images SET status = 'deleting' WHERE id = @id AND status = 'saved'", new { id }, cancellationToken: ct));
        if (marked == 0)
            return new HistoryDeleteResult(false, $"There is no image {id} in history; it may already be deleted.");
        CrashPoints.Reach("delete:marked");

        var entry = ToEntry((await GetRowAsync(connection, id, ct))!);
        var leftOutside = new List<string>();
        try
        {
            if (!DeleteFile(entry.ImagePath))
                leftOutside.Add(entry.ImagePath);
            CrashPoints.Reach("delete:image-deleted");
            foreach (var path in SideFilesOf(entry).Where(path => !DeleteFile(path)))
                leftOutside.Add(path);
            CrashPoints.Reach("delete:files-deleted");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Nothing is lost: if the PNG is still there the row goes back to saved, otherwise the row stays
            // marked and the next start-up finishes the job.
            if (File.Exists(entry.ImagePath))
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE images SET status = 'saved' WHERE id = @id", new { id }, cancellationToken: ct));
            _logger.LogWarning(ex, "Deleting image {Id} failed", id);
            return new HistoryDeleteResult(false, $"The image file could not be deleted ({ex.Message}). Close programs using it and try again.");
        }

        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM images WHERE id = @id", new { id }, cancellationToken: ct));
        if (leftOutside.Count > 0)
            return new HistoryDeleteResult(true,
                $"Removed image {id} from history, and left in place what it named outside the output folder {_folder.Root}: " +
                $"{string.Join(", ", leftOutside)}.");
        return new HistoryDeleteResult(true, $"Deleted image {id} ({Path.GetFileName(entry.ImagePath)}).");
    }

    /// <summary>
    /// Repairs what an interrupted process left: finishes deletions; removes the rows and files of saves made for a job
    /// run that no longer holds its job (the job runs again, or has failed); completes other saves whose PNG made it to
    /// disk (the sidecar is written before the PNG) and removes those that did not; and removes half-written temporary
    /// files. On one machine it runs at start-up, after the queue's recovery and before the queue starts writing, and
    /// takes every save in flight for abandoned. With a shared database other machines may be saving: it leaves the
    /// saves of jobs still held and other saves younger than <see cref="SharedSaveGrace"/>, and removes only the
    /// temporary files of the saves it removes.
    /// </summary>
    public async Task<ReconcileReport> ReconcileAsync(CancellationToken ct)
    {
        var shared = _database.IsShared;
        var cutoff = _time.GetUtcNow() - SharedSaveGrace;
        await using var connection = await _database.OpenAsync(ct);
        var pending = (await connection.QueryAsync<ImageRow>(new CommandDefinition(
            $"SELECT {Columns} FROM images WHERE {(shared ? SharedAbandoned : "status IN ('saving', 'deleting')")} ORDER BY id",
            new { cutoff = Sql.Timestamp(cutoff) }, cancellationToken: ct))).ToList();

        int completed = 0, removed = 0, deleted = 0;
        foreach (var row in pending)
        {
            var entry = ToEntry(row);
            if (row.Status == "deleting")
            {
                DeleteFilesOf(entry);
                await connection.ExecuteAsync(new CommandDefinition("DELETE FROM images WHERE id = @id", new { id = row.Id }, cancellationToken: ct));
                deleted++;
            }
            else if (row.Claim is null && File.Exists(entry.ImagePath) && SideFilesOf(entry).All(File.Exists))
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE images SET status = 'saved' WHERE id = @id AND status = 'saving'", new { id = row.Id }, cancellationToken: ct));
                completed++;
            }
            else
            {
                // A claim no running job holds never comes back, so its files can go before its row.
                DeleteFilesOf(entry);
                await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM images WHERE id = @id AND status = 'saving'", new { id = row.Id }, cancellationToken: ct));
                removed++;
            }
        }

        // Others' temporary files may be in the making; those of the saves removed above went with them.
        var tempFiles = 0;
        if (!shared && Directory.Exists(_folder.Root))
        {
            foreach (var temp in Directory.EnumerateFiles(_folder.Root, "*" + TempSuffix))
            {
                DeleteFile(temp);
                tempFiles++;
            }
        }

        var report = new ReconcileReport(completed, removed, deleted, tempFiles);
        if (report.Changed)
            _logger.LogWarning("History repaired after an interruption: {Report}", report);
        return report;
    }

    /// <summary>
    /// The rows a repair may take over while other machines work: deletions, saves of a claim that no running job holds,
    /// and saves without a claim older than <c>@cutoff</c>.
    /// </summary>
    private const string SharedAbandoned = """
        status = 'deleting'
        OR (status = 'saving' AND claim IS NULL AND timestamp < @cutoff)
        OR (status = 'saving' AND claim IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.status = 'running' AND jobs.claim = images.claim))
        """;

    private async Task<long?> InsertAsync(HistoryEntry entry, string? claim, CancellationToken ct)
    {
        foreach (var path in SideFilesOf(entry).Prepend(entry.ImagePath))
        {
            if (!_folder.Contains(path))
                throw new ArgumentException(
                    $"History keeps only files inside the output folder {_folder.Root}, and {path} is not there.", nameof(entry));
        }
        await using var connection = await _database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            """
            INSERT INTO images (timestamp, seed, prompt, model_alias, quantize, steps, guidance, height, width, path,
                controlnet_image_path, controlnet_image_hash, controlnet_strength, controlnet_save_canny, controlnet_encoding,
                controlnet_canny_filename, init_image_path, init_image_hash, image_strength, batch_id, lora_paths, lora_scales,
                output_filename, metadata_filename, generation_time_seconds, device, precision, status, source, claim)
            VALUES (@Timestamp, @Seed, @Prompt, @ModelAlias, @Quantize, @Steps, @Guidance, @Height, @Width, @ModelPath,
                @ControlNetImagePath, @ControlNetImageHash, @ControlNetStrength, @ControlNetSaveCanny, @ControlNetEncoding,
                @ControlNetCannyFilename, @InitImagePath, @InitImageHash, @ImageStrength, @BatchId, @LoraPaths, @LoraScales,
                @OutputFilename, @MetadataFilename, @GenerationTimeSeconds, @Device, @Precision, @Status, @Source, @Claim)
            ON CONFLICT (output_filename) DO NOTHING
            RETURNING id
            """, ToRow(entry) with { Claim = claim }, cancellationToken: ct));
    }

    private async Task<HistoryPage> PageAsync(string? match, int limit, HistoryCursor? after, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        string Query(bool continued) => $"""
            SELECT {Columns} FROM images
            {(match is null ? "" : Sql.SearchJoin)}
            WHERE images.status = 'saved'
              {(match is null ? "" : "AND " + Sql.SearchCondition)}
              {(continued ? "AND (images.timestamp < @ts OR (images.timestamp = @ts AND images.id < @id))" : "")}
            ORDER BY images.timestamp DESC, images.id DESC
            LIMIT @batch
            """;
        var entries = new List<HistoryEntry>(Math.Min(limit, 1000));
        var position = after is null ? ((DateTimeOffset Timestamp, long Id)?)null : (SqlDialect.ParseTimestamp(after.Timestamp), after.Id);
        // Rows are read in batches because some may be skipped for a missing file.
        var batch = (int)Math.Clamp((long)limit * 2, 32, 1000);
        await using var connection = await _database.OpenAsync(ct);
        while (true)
        {
            var rows = (await connection.QueryAsync<ImageRow>(new CommandDefinition(Query(position is not null),
                new { match, ts = position is { } p ? Sql.Timestamp(p.Timestamp) : null, id = position?.Id ?? 0, batch },
                cancellationToken: ct))).ToList();
            foreach (var row in rows)
            {
                var entry = ToEntry(row);
                position = (entry.Timestamp, entry.Id);
                // Like the original app, images deleted outside FluxStudio are not shown; their rows are kept. Nor are rows
                // that name a file outside the output folder (written by hand or by an older version).
                if (_folder.Resolve(entry.ImagePath) is not { } image || !File.Exists(image))
                    continue;
                entries.Add(entry);
                if (entries.Count == limit)
                    return new HistoryPage(entries, new HistoryCursor(SqlDialect.FormatTimestamp(entry.Timestamp), entry.Id));
            }
            if (rows.Count < batch)
                return new HistoryPage(entries, null);
        }
    }

    private static async Task<ImageRow?> GetRowAsync(DbConnection connection, long id, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<ImageRow>(new CommandDefinition(
            $"SELECT {Columns} FROM images WHERE id = @id", new { id }, cancellationToken: ct));

    private void DeleteFilesOf(HistoryEntry entry)
    {
        DeleteFile(entry.ImagePath);
        foreach (var path in SideFilesOf(entry))
            DeleteFile(path);
        foreach (var temp in TempFilesOf(entry))
            DeleteFile(temp);
    }

    /// <summary>The files an entry keeps besides its PNG, written before it: the JSON sidecar and the ControlNet's edge map.</summary>
    private static IEnumerable<string> SideFilesOf(HistoryEntry entry) =>
        new[] { entry.MetadataPath, entry.ControlNetCannyPath }.OfType<string>();

    private IEnumerable<string> TempFilesOf(HistoryEntry entry) =>
        TempFilesOf(entry.ImagePath).Concat(SideFilesOf(entry).SelectMany(TempFilesOf));

    private IEnumerable<string> TempFilesOf(string path)
    {
        var folder = Path.GetDirectoryName(path)!;
        return _folder.Contains(path) && Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, Path.GetFileName(path) + ".*" + TempSuffix)
            : [];
    }

    /// <summary>False when the path leads outside the output folder, which is then left alone.</summary>
    private bool DeleteFile(string path)
    {
        var deleted = _folder.TryDelete(path);
        if (!deleted)
            _logger.LogWarning("Not deleting {Path}: it lies outside the output folder {Folder}", path, _folder.Root);
        return deleted;
    }

    /// <summary>Relative to the output folder, which every stored file lies in (<see cref="InsertAsync"/> checks).</summary>
    private string ToStoredPath(string fullPath) => Path.GetRelativePath(_folder.Root, fullPath);

    private string ToFullPath(string stored) => Path.GetFullPath(stored, _folder.Root);

    private const string Columns =
        "images.id AS Id, images.timestamp AS Timestamp, images.seed AS Seed, images.prompt AS Prompt, images.model_alias AS ModelAlias, images.quantize AS Quantize, " +
        "images.steps AS Steps, images.guidance AS Guidance, images.height AS Height, images.width AS Width, images.path AS ModelPath, " +
        "images.controlnet_image_path AS ControlNetImagePath, images.controlnet_strength AS ControlNetStrength, " +
        "images.controlnet_save_canny AS ControlNetSaveCanny, images.controlnet_image_hash AS ControlNetImageHash, " +
        "images.controlnet_encoding AS ControlNetEncoding, images.controlnet_canny_filename AS ControlNetCannyFilename, " +
        "images.init_image_path AS InitImagePath, images.init_image_hash AS InitImageHash, images.image_strength AS ImageStrength, " +
        "images.batch_id AS BatchId, images.lora_paths AS LoraPaths, images.lora_scales AS LoraScales, " +
        "images.output_filename AS OutputFilename, images.metadata_filename AS MetadataFilename, " +
        "images.generation_time_seconds AS GenerationTimeSeconds, images.device AS Device, images.precision AS Precision, images.status AS Status, " +
        "images.source AS Source, images.claim AS Claim";

    private ImageRow ToRow(HistoryEntry e) => new()
    {
        Id = e.Id,
        Timestamp = Sql.Timestamp(e.Timestamp),
        Seed = e.Seed,
        Prompt = e.Prompt,
        ModelAlias = e.ModelAlias,
        Quantize = e.Quantize,
        Steps = e.Steps,
        Guidance = e.Guidance,
        Height = e.Height,
        Width = e.Width,
        ModelPath = e.ModelPath,
        ControlNetImagePath = e.ControlNetImagePath,
        ControlNetStrength = e.ControlNetStrength,
        ControlNetSaveCanny = e.ControlNetSaveCanny,
        ControlNetImageHash = e.ControlNetImageHash,
        ControlNetEncoding = e.ControlNetEncoding,
        ControlNetCannyFilename = e.ControlNetCannyPath is null ? null : ToStoredPath(e.ControlNetCannyPath),
        InitImagePath = e.InitImagePath,
        InitImageHash = e.InitImageHash,
        ImageStrength = e.ImageStrength,
        BatchId = e.BatchId,
        LoraPaths = JsonSerializer.Serialize(e.LoraPaths),
        LoraScales = JsonSerializer.Serialize(e.LoraScales),
        OutputFilename = ToStoredPath(e.ImagePath),
        MetadataFilename = e.MetadataPath is null ? null : ToStoredPath(e.MetadataPath),
        GenerationTimeSeconds = e.GenerationTimeSeconds,
        Device = e.Device,
        Precision = e.Precision,
        Status = e.Status.ToString().ToLowerInvariant(),
        Source = e.Source,
    };

    private HistoryEntry ToEntry(ImageRow r) => new()
    {
        Id = r.Id,
        Timestamp = SqlDialect.ReadTimestamp(r.Timestamp),
        Seed = r.Seed,
        Prompt = r.Prompt,
        ModelAlias = r.ModelAlias,
        Quantize = r.Quantize is null ? null : (int)r.Quantize,
        Steps = (int)r.Steps,
        Guidance = r.Guidance,
        Height = (int)r.Height,
        Width = (int)r.Width,
        ModelPath = r.ModelPath,
        ControlNetImagePath = r.ControlNetImagePath,
        ControlNetStrength = r.ControlNetStrength,
        ControlNetSaveCanny = r.ControlNetSaveCanny,
        ControlNetImageHash = r.ControlNetImageHash,
        ControlNetEncoding = r.ControlNetEncoding,
        ControlNetCannyPath = r.ControlNetCannyFilename is null ? null : ToFullPath(r.ControlNetCannyFilename),
        InitImagePath = r.InitImagePath,
        InitImageHash = r.InitImageHash,
        ImageStrength = r.ImageStrength,
        BatchId = r.BatchId,
        LoraPaths = JsonSerializer.Deserialize<string[]>(r.LoraPaths) ?? [],
        LoraScales = JsonSerializer.Deserialize<double[]>(r.LoraScales) ?? [],
        ImagePath = ToFullPath(r.OutputFilename),
        MetadataPath = r.MetadataFilename is null ? null : ToFullPath(r.MetadataFilename),
        GenerationTimeSeconds = r.GenerationTimeSeconds,
        Device = r.Device,
        Precision = r.Precision,
        Status = Enum.Parse<HistoryStatus>(r.Status, ignoreCase: true),
        Source = r.Source,
    };

    private sealed record ImageRow
    {
        public long Id { get; init; }

        /// <summary>Text in SQLite, a time in PostgreSQL (<see cref="SqlDialect.ReadTimestamp"/>).</summary>
        public object Timestamp { get; init; } = "";
        public long Seed { get; init; }
        public string Prompt { get; init; } = "";
        public string ModelAlias { get; init; } = "";
        public long? Quantize { get; init; }
        public long Steps { get; init; }
        public double? Guidance { get; init; }
        public long Height { get; init; }
        public long Width { get; init; }
        public string? ModelPath { get; init; }
        public string? ControlNetImagePath { get; init; }
        public double? ControlNetStrength { get; init; }
        public bool ControlNetSaveCanny { get; init; }
        public string? ControlNetImageHash { get; init; }
        public string? ControlNetEncoding { get; init; }
        public string? ControlNetCannyFilename { get; init; }
        public string? InitImagePath { get; init; }
        public string? InitImageHash { get; init; }
        public double? ImageStrength { get; init; }
        public string? BatchId { get; init; }
        public string LoraPaths { get; init; } = "[]";
        public string LoraScales { get; init; } = "[]";
        public string OutputFilename { get; init; } = "";
        public string? MetadataFilename { get; init; }
        public double? GenerationTimeSeconds { get; init; }
        public string? Device { get; init; }
        public string? Precision { get; init; }
        public string Status { get; init; } = "";
        public string Source { get; init; } = "";
        public string? Claim { get; init; }
    }
}

public sealed record HistoryDeleteResult(bool Deleted, string Message);

/// <summary>What start-up reconciliation repaired.</summary>
public sealed record ReconcileReport(int SavesCompleted, int SavesRemoved, int DeletesFinished, int TempFilesRemoved)
{
    public bool Changed => SavesCompleted + SavesRemoved + DeletesFinished + TempFilesRemoved > 0;
}
