using Npgsql;
using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Data;

/// <summary>
/// PostgreSQL's schema steps, applied in order under an advisory lock (several machines may start at once) and inside
/// one transaction, which PostgreSQL's DDL takes part in; <c>fluxstudio_schema</c> records how many have run. Never edit
/// a released step: add a new one (and the same change to <see cref="SqliteMigrations"/>).
/// </summary>
internal static class PostgresMigrations
{
    public static readonly IReadOnlyList<string> All =
    [
        // 1: history, with its prompts' full-text search (a generated tsvector, GIN-indexed); the queue, whose claims
        //    are leases measured by the database's clock; the workers and what each can run. A request to cancel a
        //    running job is announced on fluxstudio_cancel, so its worker hears it wherever it runs. The pictures a job
        //    starts from (ControlNet references, image-to-image starts) travel with it, for workers on other machines,
        //    until it has ended.
        """
        CREATE TABLE images (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            timestamp timestamptz NOT NULL,
            seed bigint NOT NULL,
            prompt text NOT NULL,
            model_alias text NOT NULL,
            quantize integer NULL,
            steps integer NOT NULL,
            guidance double precision NULL,
            height integer NOT NULL,
            width integer NOT NULL,
            path text NULL,
            controlnet_image_path text NULL,
            controlnet_image_hash text NULL,
            controlnet_strength double precision NULL,
            controlnet_save_canny boolean NOT NULL DEFAULT false,
            controlnet_encoding text NULL,
            controlnet_canny_filename text NULL,
            init_image_path text NULL,
            init_image_hash text NULL,
            image_strength double precision NULL,
            batch_id text NULL,
            lora_paths text NOT NULL DEFAULT '[]',
            lora_scales text NOT NULL DEFAULT '[]',
            output_filename text NOT NULL,
            metadata_filename text NULL,
            generation_time_seconds double precision NULL,
            device text NULL,
            precision text NULL,
            status text NOT NULL CHECK (status IN ('saving', 'saved', 'deleting')),
            source text NOT NULL DEFAULT 'fluxstudio',
            claim text NULL,
            prompt_search tsvector GENERATED ALWAYS AS (to_tsvector('simple', prompt)) STORED
        );
        CREATE UNIQUE INDEX images_output_filename ON images (output_filename);
        CREATE INDEX images_newest ON images (status, timestamp DESC, id DESC);
        CREATE INDEX images_prompt_search ON images USING gin (prompt_search);
        CREATE INDEX images_batch ON images (batch_id) WHERE batch_id IS NOT NULL;

        CREATE TABLE jobs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
            request_json text NOT NULL,
            model text NULL,
            quantize integer NULL,
            pixels bigint NULL,
            controlnet boolean NOT NULL DEFAULT false,
            device text NULL,
            worker text NULL,
            attempts integer NOT NULL DEFAULT 0,
            error text NULL,
            image_id bigint NULL REFERENCES images (id) ON DELETE SET NULL,
            image_ids text NOT NULL DEFAULT '[]',
            warnings text NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL,
            started_at timestamptz NULL,
            finished_at timestamptz NULL,
            claim text NULL,
            lease_expires_at timestamptz NULL,
            cancel_requested boolean NOT NULL DEFAULT false,
            preview_png bytea NULL
        );
        CREATE INDEX jobs_waiting ON jobs (status, id);
        CREATE INDEX jobs_with_preview ON jobs (finished_at) WHERE preview_png IS NOT NULL;

        CREATE FUNCTION fluxstudio_announce_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fluxstudio_cancel', NEW.id::text);
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER jobs_cancel_requested AFTER UPDATE OF cancel_requested ON jobs
            FOR EACH ROW WHEN (NEW.cancel_requested AND NOT OLD.cancel_requested) EXECUTE FUNCTION fluxstudio_announce_cancel();

        CREATE TABLE job_pictures (
            job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            path text NOT NULL,
            picture bytea NOT NULL,
            PRIMARY KEY (job_id, path)
        );
        CREATE FUNCTION fluxstudio_drop_job_pictures() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM job_pictures WHERE job_id = NEW.id;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER jobs_finished AFTER UPDATE OF status ON jobs
            FOR EACH ROW WHEN (NEW.status IN ('done', 'failed', 'cancelled')) EXECUTE FUNCTION fluxstudio_drop_job_pictures();

        CREATE TABLE workers (
            id text PRIMARY KEY,
            name text NOT NULL,
            device text NOT NULL,
            memory_bytes bigint NULL,
            capacities text NOT NULL DEFAULT '[]',
            started_at timestamptz NOT NULL,
            seen_at timestamptz NOT NULL
        );
        """,
        // 2: training runs, claimed as jobs are (a lease a worker renews, what the run needs of a worker, how often a
        //    worker died while it ran); a request to cancel a running one is announced on fluxstudio_training_cancel.
        //    resume_from is relative to the run's folder, which every machine mounts.
        """
        CREATE TABLE training_runs (
            id text PRIMARY KEY,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            created_at timestamptz NOT NULL,
            started_at timestamptz NULL,
            finished_at timestamptz NULL,
            step integer NOT NULL DEFAULT 0,
            total_steps integer NOT NULL DEFAULT 0,
            last_loss double precision NULL,
            error text NULL,
            warnings text NOT NULL DEFAULT '[]',
            resume_from text NULL,
            model_path text NULL,
            model text NOT NULL,
            quantize integer NULL,
            attempts integer NOT NULL DEFAULT 0,
            crashes integer NOT NULL DEFAULT 0,
            lora_name text NULL,
            activation_keyword text NULL,
            device text NULL,
            worker text NULL,
            claim text NULL,
            lease_expires_at timestamptz NULL,
            cancel_requested boolean NOT NULL DEFAULT false
        );
        CREATE INDEX training_runs_waiting ON training_runs (status, created_at);

        CREATE FUNCTION fluxstudio_announce_training_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fluxstudio_training_cancel', NEW.id);
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER training_runs_cancel_requested AFTER UPDATE OF cancel_requested ON training_runs
            FOR EACH ROW WHEN (NEW.cancel_requested AND NOT OLD.cancel_requested) EXECUTE FUNCTION fluxstudio_announce_training_cancel();
        """,
    ];

    private const string VersionTable = "fluxstudio_schema";

    public static async Task ApplyAsync(NpgsqlConnection connection, string name, ILogger logger, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await ExecuteAsync(connection, $"""
            SELECT pg_advisory_xact_lock(hashtext('{VersionTable}'));
            CREATE TABLE IF NOT EXISTS {VersionTable} (version integer NOT NULL);
            """, ct);
        var version = await GetVersionAsync(connection, ct);
        if (version > All.Count)
            throw new StudioDatabaseException(
                $"The database {name} was written by a newer FluxStudio (schema {version}, this one knows {All.Count}). " +
                "Update FluxStudio on this machine, or point it at another database.");
        for (var step = version; step < All.Count; step++)
        {
            await ExecuteAsync(connection, All[step], ct);
            logger.LogInformation("Database {Name} migrated to schema {Version}", name, step + 1);
        }
        if (version < All.Count)
            await ExecuteAsync(connection, $"DELETE FROM {VersionTable}; INSERT INTO {VersionTable} VALUES ({All.Count});", ct);
        await transaction.CommitAsync(ct);
    }

    public static async Task<int> GetVersionAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT COALESCE(MAX(version), 0) FROM {VersionTable}", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct));
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }
}
