using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Data;

/// <summary>
/// SQLite's schema steps, applied in order inside one transaction each; <c>PRAGMA user_version</c> records how many
/// have run. Never edit a released step: add a new one (and the same change to <see cref="PostgresMigrations"/>).
/// </summary>
internal static class SqliteMigrations
{
    public static readonly IReadOnlyList<string> All =
    [
        // 1: history. The original app's columns, plus how and where the image was made, and the row's
        //    life cycle (saving → saved → deleting) that start-up reconciliation relies on.
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp TEXT NOT NULL,
            seed INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            model_alias TEXT NOT NULL,
            quantize INTEGER NULL,
            steps INTEGER NOT NULL,
            guidance REAL NULL,
            height INTEGER NOT NULL,
            width INTEGER NOT NULL,
            path TEXT NULL,
            controlnet_image_path TEXT NULL,
            controlnet_strength REAL NULL,
            controlnet_save_canny INTEGER NOT NULL DEFAULT 0,
            lora_paths TEXT NOT NULL DEFAULT '[]',
            lora_scales TEXT NOT NULL DEFAULT '[]',
            output_filename TEXT NOT NULL,
            metadata_filename TEXT NULL,
            generation_time_seconds REAL NULL,
            device TEXT NULL,
            precision TEXT NULL,
            status TEXT NOT NULL CHECK (status IN ('saving', 'saved', 'deleting')),
            source TEXT NOT NULL DEFAULT 'fluxstudio'
        );
        CREATE UNIQUE INDEX images_output_filename ON images(output_filename);
        CREATE INDEX images_newest ON images(status, timestamp DESC, id DESC);
        """,
        // 2: full-text search over prompts, kept in step with the table by triggers.
        """
        CREATE VIRTUAL TABLE images_fts USING fts5(prompt, content='images', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
        CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
            INSERT INTO images_fts(rowid, prompt) VALUES (new.id, new.prompt);
        END;
        CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
        END;
        CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
            INSERT INTO images_fts(rowid, prompt) VALUES (new.id, new.prompt);
        END;
        INSERT INTO images_fts(images_fts) VALUES ('rebuild');
        """,
        // 3: the generation queue.
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
            request_json TEXT NOT NULL,
            device TEXT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT NULL,
            image_id INTEGER NULL REFERENCES images(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            started_at TEXT NULL,
            finished_at TEXT NULL
        );
        CREATE INDEX jobs_waiting ON jobs(status, id);
        """,
        // 4: what the engine changed or ignored while running a job (a JSON array of sentences).
        """
        ALTER TABLE jobs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
        """,
        // 5: ControlNet and image-to-image inputs (hashes identify pictures whose paths are gone), the edge map kept with
        //    an image, batches of images, and every image a job made (a JSON array of history ids).
        """
        ALTER TABLE images ADD COLUMN controlnet_image_hash TEXT NULL;
        ALTER TABLE images ADD COLUMN controlnet_encoding TEXT NULL;
        ALTER TABLE images ADD COLUMN controlnet_canny_filename TEXT NULL;
        ALTER TABLE images ADD COLUMN init_image_path TEXT NULL;
        ALTER TABLE images ADD COLUMN init_image_hash TEXT NULL;
        ALTER TABLE images ADD COLUMN image_strength REAL NULL;
        ALTER TABLE images ADD COLUMN batch_id TEXT NULL;
        CREATE INDEX images_batch ON images(batch_id) WHERE batch_id IS NOT NULL;
        ALTER TABLE jobs ADD COLUMN image_ids TEXT NOT NULL DEFAULT '[]';
        """,
        // 6: workers in other processes. A claim is a lease (a token the worker renews until a time); a cancel request
        //    reaches the worker through the row; a job says what it needs (the model, its quantization, its pixels, a ControlNet) so a
        //    worker claims only what it can run; an image being saved names the claim that writes it; and each worker
        //    says what it can run.
        """
        ALTER TABLE jobs ADD COLUMN worker TEXT NULL;
        ALTER TABLE jobs ADD COLUMN claim TEXT NULL;
        ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT NULL;
        ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN model TEXT NULL;
        ALTER TABLE jobs ADD COLUMN quantize INTEGER NULL;
        ALTER TABLE jobs ADD COLUMN pixels INTEGER NULL;
        ALTER TABLE jobs ADD COLUMN controlnet INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE images ADD COLUMN claim TEXT NULL;
        CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            device TEXT NOT NULL,
            memory_bytes INTEGER NULL,
            capacities TEXT NOT NULL DEFAULT '[]',
            started_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        """,
        // 7: training runs, which were run.json files in their folders (imported by TrainingRunStore at first use), claimed
        //    as jobs are: a lease a worker renews, a cancel request in the row, what the run needs of a worker (its model
        //    and quantization), and how often a worker died while it ran. resume_from is relative to the run's folder.
        """
        CREATE TABLE training_runs (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            created_at TEXT NOT NULL,
            started_at TEXT NULL,
            finished_at TEXT NULL,
            step INTEGER NOT NULL DEFAULT 0,
            total_steps INTEGER NOT NULL DEFAULT 0,
            last_loss REAL NULL,
            error TEXT NULL,
            warnings TEXT NOT NULL DEFAULT '[]',
            resume_from TEXT NULL,
            model_path TEXT NULL,
            model TEXT NOT NULL,
            quantize INTEGER NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            crashes INTEGER NOT NULL DEFAULT 0,
            lora_name TEXT NULL,
            activation_keyword TEXT NULL,
            device TEXT NULL,
            worker TEXT NULL,
            claim TEXT NULL,
            lease_expires_at TEXT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX training_runs_waiting ON training_runs(status, created_at);
        """,
    ];

    public static async Task ApplyAsync(SqliteConnection connection, ILogger logger, CancellationToken ct)
    {
        var version = await GetVersionAsync(connection, ct);
        if (version > All.Count)
            throw new StudioDatabaseException(
                $"The database {connection.DataSource} was written by a newer FluxStudio (schema {version}, this one knows {All.Count}). " +
                "Update FluxStudio or point it at another data folder.");

        for (var step = version; step < All.Count; step++)
        {
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
            // Re-read inside the write lock: another process may have migrated meanwhile.
            var current = await GetVersionAsync(connection, ct, transaction);
            if (current > step)
            {
                await transaction.RollbackAsync(ct);
                step = current - 1;
                continue;
            }
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = All[step] + $"\nPRAGMA user_version = {step + 1};";
            await command.ExecuteNonQueryAsync(ct);
            await transaction.CommitAsync(ct);
            logger.LogInformation("Database {Path} migrated to schema {Version}", connection.DataSource, step + 1);
        }
    }

    public static async Task<int> GetVersionAsync(SqliteConnection connection, CancellationToken ct, SqliteTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct));
    }
}
