namespace FluxStudio.App;

/// <summary>
/// Where FluxStudio keeps its data, bound from the <c>FluxStudio</c> configuration section.
/// Relative paths are resolved against <see cref="DataRoot"/>; <see cref="DataRoot"/> itself against the
/// working directory, as the original app did with its <c>outputimage</c> folder.
/// </summary>
public sealed class StudioOptions
{
    public const string SectionName = "FluxStudio";

    /// <summary>
    /// Where history, images and LoRAs live. Default: the user's data folder (~/.local/share/FluxStudio on Linux,
    /// %LOCALAPPDATA%\FluxStudio on Windows), so the place does not depend on where the app was started.
    /// </summary>
    public string DataRoot { get; set; } = DefaultDataRoot;

    public static string DefaultDataRoot { get; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "FluxStudio");

    /// <summary>The SQLite file holding history and the job queue. Default: <c>{DataRoot}/fluxstudio.db</c>.</summary>
    public string? DatabasePath { get; set; }

    /// <summary>Which database holds history and the queue: this machine's SQLite file, or a PostgreSQL server shared by several.</summary>
    public DatabaseOptions Database { get; set; } = new();

    /// <summary>The folder images are written to. Default: <c>{DataRoot}/outputimage</c>.</summary>
    public string? OutputRoot { get; set; }

    /// <summary>The folder holding LoRA files and <c>lora_info.json</c>. Default: <c>{DataRoot}/lora</c>.</summary>
    public string? LoraFolder { get; set; }

    /// <summary>
    /// The folder training runs are kept in, one folder each with its configuration, pictures, checkpoints, plots,
    /// validation images and LoRA. Default: <c>{DataRoot}/training</c>. With a shared database, every machine mounts it
    /// at the same path, so a run continues from its checkpoints wherever it is claimed next.
    /// </summary>
    public string? TrainingFolder { get; set; }

    /// <summary>
    /// The folder pictures handed to the web studio and the API (ControlNet references, image-to-image starts) are kept
    /// in until their jobs have run. Default: <c>{DataRoot}/uploads</c>.
    /// </summary>
    public string? UploadFolder { get; set; }

    /// <summary>How long an uploaded picture is kept after it was last handed in, unless a waiting job still uses it.</summary>
    public TimeSpan UploadRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Write the mflux-style JSON sidecar next to every image, whatever the request says.</summary>
    public bool AlwaysExportMetadata { get; set; }

    public QueueOptions Queue { get; set; } = new();

    /// <summary>What this machine's workers say they can run, with a shared database (<c>FluxStudio:Worker</c>).</summary>
    public WorkerOptions Worker { get; set; } = new();

    public string ResolveDataRoot() => Path.GetFullPath(DataRoot);

    public string ResolveDatabasePath() => Resolve(DatabasePath, "fluxstudio.db");

    public string ResolveOutputRoot() => Resolve(OutputRoot, "outputimage");

    public string ResolveLoraFolder() => Resolve(LoraFolder, "lora");

    public string ResolveTrainingFolder() => Resolve(TrainingFolder, "training");

    public string ResolveUploadFolder() => Resolve(UploadFolder, "uploads");

    private string Resolve(string? configured, string defaultName) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(configured) ? defaultName : configured, ResolveDataRoot());
}

public sealed class QueueOptions
{
    /// <summary>Jobs waiting or running at most; the original app allowed 20.</summary>
    public int MaxLength { get; set; } = 20;

    /// <summary>
    /// One worker runs per device name (none listed: one worker named <c>default</c>). A worker uses the
    /// <see cref="Generation.IImageGenerator"/> registered under its device name as a keyed service, or the
    /// unkeyed one.
    /// </summary>
    // Empty by default: the configuration binder appends to a list's existing items instead of replacing them.
    public List<string> Devices { get; set; } = [];

    /// <summary>How many times a job is started in total before an interruption marks it failed.</summary>
    public int MaxAttempts { get; set; } = 2;

    /// <summary>How often an idle worker looks for jobs queued by another process.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Run the queue's workers in this process. False for a web server that leaves the jobs to <c>fluxstudio worker</c>
    /// processes on other machines (or this one).
    /// </summary>
    public bool LocalWorkers { get; set; } = true;

    /// <summary>
    /// How long a claimed job stays a worker's without the worker renewing its claim (it renews it every third of this).
    /// With a shared database, a job whose worker died goes back to the queue once its lease has run out.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class WorkerOptions
{
    /// <summary>
    /// Model paths (diffusers folders or single-file transformers) that jobs may name and this machine has, at the same
    /// path as on the machines that queue them. The FLUX.1 releases found in the models root or the Hugging Face cache are
    /// offered without being listed.
    /// </summary>
    // Empty by default: the configuration binder appends to a list's existing items instead of replacing them.
    public List<string> Models { get; set; } = [];

    /// <summary>How the worker is named to others (in the job list and logs); unset: the machine's name and its device.</summary>
    public string? Name { get; set; }
}
