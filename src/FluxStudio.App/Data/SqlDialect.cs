using System.Globalization;

namespace FluxStudio.App.Data;

/// <summary>
/// Where SQLite's and PostgreSQL's SQL differ for the stores: how a timestamp is stored, which clock leases are measured
/// by, how a claim skips the rows other workers hold, and the full-text search of prompts. Everything else the stores
/// write is the same SQL for both.
/// </summary>
public abstract class SqlDialect
{
    public static SqlDialect Sqlite { get; } = new SqliteDialect();

    public static SqlDialect Postgres { get; } = new PostgresDialect();

    /// <summary>A timestamp as a parameter: ISO 8601 text in UTC for SQLite (which sorts as time does), <c>timestamptz</c> for PostgreSQL.</summary>
    public abstract object Timestamp(DateTimeOffset value);

    /// <summary>A timestamp as a column comes back: text from SQLite, a UTC <see cref="DateTime"/> from PostgreSQL.</summary>
    public static DateTimeOffset ReadTimestamp(object value) => value switch
    {
        string text => ParseTimestamp(text),
        DateTime time => new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)),
        DateTimeOffset time => time,
        _ => throw new InvalidDataException($"A timestamp column holds {value.GetType().Name}, not a time."),
    };

    public static string FormatTimestamp(DateTimeOffset timestamp) =>
        timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTimestamp(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    /// <summary>
    /// "Now" for leases. PostgreSQL's own clock, so workers whose clocks disagree still agree on when a lease ran out;
    /// SQLite has one machine, whose clock the statement passes as <c>@now</c>.
    /// </summary>
    public abstract string Now { get; }

    /// <summary>When a lease taken or renewed now runs out: <c>@leaseUntil</c> (SQLite) or the database's clock plus <c>@lease</c>.</summary>
    public abstract string LeaseUntil { get; }

    /// <summary>
    /// <paramref name="column"/> is one of the list parameter <paramref name="parameter"/>: Dapper spreads a list into
    /// <c>IN (…)</c> for SQLite, and passes it to Npgsql as one array.
    /// </summary>
    public abstract string IsIn(string column, string parameter);

    /// <summary>The JSON array of numbers in <paramref name="column"/> (text) with the number parameter <paramref name="parameter"/> appended.</summary>
    public abstract string AppendToJsonArray(string column, string parameter);

    /// <summary>Appended to the select of a claim: rows another worker is claiming are skipped rather than waited for.</summary>
    public abstract string SkipLocked { get; }

    /// <summary>
    /// Run first in a transaction that counts jobs and then adds one, so two callers cannot both take the last place.
    /// SQLite's write transaction is already exclusive.
    /// </summary>
    public abstract string LockQueue { get; }

    /// <summary>The joins and the condition that keep the images whose prompt matches <c>@match</c>.</summary>
    public abstract string SearchJoin { get; }

    public abstract string SearchCondition { get; }

    /// <summary>
    /// The search text as the engine's query, or null when it holds no word. Every word must match, as a word prefix;
    /// user text is never read as query syntax.
    /// </summary>
    public abstract string? SearchQuery(string? text);

    /// <summary>The words of a search: runs of letters and digits (as both engines' tokenizers split them), per word typed.</summary>
    protected static List<List<string>> SearchWords(string? text) =>
        (text ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(word => SplitRuns(word))
            .Where(runs => runs.Count > 0)
            .ToList();

    private static List<string> SplitRuns(string word)
    {
        var runs = new List<string>();
        var start = -1;
        for (var i = 0; i <= word.Length; i++)
        {
            var inRun = i < word.Length && char.IsLetterOrDigit(word[i]);
            if (inRun && start < 0)
                start = i;
            else if (!inRun && start >= 0)
            {
                runs.Add(word[start..i]);
                start = -1;
            }
        }
        return runs;
    }

    private sealed class SqliteDialect : SqlDialect
    {
        public override object Timestamp(DateTimeOffset value) => FormatTimestamp(value);

        public override string Now => "@now";

        public override string LeaseUntil => "@leaseUntil";

        public override string IsIn(string column, string parameter) => $"{column} IN @{parameter}";

        public override string AppendToJsonArray(string column, string parameter) => $"json_insert({column}, '$[#]', @{parameter})";

        public override string SkipLocked => "";

        public override string LockQueue => "";

        public override string SearchJoin => "JOIN images_fts ON images_fts.rowid = images.id";

        public override string SearchCondition => "images_fts MATCH @match";

        /// <summary>Each word a quoted FTS5 phrase of its runs, the last one a prefix: <c>"fox" "like"*</c>.</summary>
        public override string? SearchQuery(string? text)
        {
            var words = SearchWords(text);
            return words.Count == 0 ? null : string.Join(" ", words.Select(runs => "\"" + string.Join(" ", runs) + "\"*"));
        }
    }

    private sealed class PostgresDialect : SqlDialect
    {
        // Npgsql writes timestamptz from UTC values only.
        public override object Timestamp(DateTimeOffset value) => value.ToUniversalTime();

        public override string Now => "clock_timestamp()";

        public override string LeaseUntil => "clock_timestamp() + @lease";

        public override string IsIn(string column, string parameter) => $"{column} = ANY(@{parameter})";

        public override string AppendToJsonArray(string column, string parameter) => $"({column}::jsonb || to_jsonb(@{parameter}::bigint))::text";

        public override string SkipLocked => "FOR UPDATE SKIP LOCKED";

        public override string LockQueue => "SELECT pg_advisory_xact_lock(hashtext('fluxstudio_jobs'));";

        public override string SearchJoin => "";

        public override string SearchCondition => "images.prompt_search @@ to_tsquery('simple', @match)";

        /// <summary>
        /// Each word a phrase of its runs, the last one a prefix, all words required: <c>'fox' &lt;-&gt; 'like':* &amp; 'sno':*</c>.
        /// The runs hold letters and digits only, so quoting them is enough.
        /// </summary>
        public override string? SearchQuery(string? text)
        {
            var words = SearchWords(text);
            return words.Count == 0 ? null : string.Join(" & ", words.Select(runs => string.Join(" <-> ", runs.Select(run => $"'{run}'")) + ":*"));
        }
    }
}
