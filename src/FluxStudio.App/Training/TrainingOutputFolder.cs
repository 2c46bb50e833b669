using System.Globalization;

namespace FluxStudio.App.Training;

/// <summary>
/// The folder a training run writes to, laid out as the original app lays it out: <c>_checkpoints/{iteration:0000000}_checkpoint.zip</c>,
/// <c>_validation/images/{iteration}_validation_image.png</c>, the loss plot in <c>_validation/plots/</c> (PDF and PNG,
/// the latest only: each holds every step so far), and the trained LoRA as <c>lora.safetensors</c>.
/// </summary>
public sealed class TrainingOutputFolder(string path)
{
    public const string CheckpointsFolderName = "_checkpoints";
    public const string LoraFileName = "lora.safetensors";
    private const string CheckpointSuffix = "_checkpoint.zip";
    private const string ValidationImageSuffix = "_validation_image.png";
    private const string PlotSuffix = "_loss";

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string CheckpointsFolder => System.IO.Path.Combine(Path, CheckpointsFolderName);

    public string ValidationImagesFolder => System.IO.Path.Combine(Path, "_validation", "images");

    public string PlotsFolder => System.IO.Path.Combine(Path, "_validation", "plots");

    public string LoraPath => System.IO.Path.Combine(Path, LoraFileName);

    public string CheckpointPath(int iteration) => System.IO.Path.Combine(CheckpointsFolder, $"{Number(iteration)}{CheckpointSuffix}");

    public string ValidationImagePath(int iteration) => System.IO.Path.Combine(ValidationImagesFolder, $"{Number(iteration)}{ValidationImageSuffix}");

    /// <summary>The loss plot after <paramref name="iteration"/> steps, <c>.pdf</c> or <c>.png</c>.</summary>
    public string PlotPath(int iteration, string extension) => System.IO.Path.Combine(PlotsFolder, $"{Number(iteration)}{PlotSuffix}{extension}");

    /// <summary>The checkpoints written so far, oldest first.</summary>
    public IReadOnlyList<(int Iteration, string Path)> Checkpoints() => Numbered(CheckpointsFolder, CheckpointSuffix);

    public IReadOnlyList<(int Iteration, string Path)> ValidationImages() => Numbered(ValidationImagesFolder, ValidationImageSuffix);

    /// <summary>The latest loss plot's two files, or null before the first plot.</summary>
    public (string Pdf, string Png)? LatestPlot() =>
        Numbered(PlotsFolder, PlotSuffix + ".pdf").LastOrDefault() is { Path: not null } latest
            ? (latest.Path, System.IO.Path.ChangeExtension(latest.Path, ".png"))
            : null;

    /// <summary>
    /// Everything a person downloads from a run, by kind: <c>checkpoints</c> (oldest first), <c>plots</c> (the latest loss
    /// plot, PDF then PNG), <c>validation</c> (the validation images, oldest first) and <c>lora</c>.
    /// </summary>
    public IEnumerable<OutputFile> Files()
    {
        foreach (var (_, path) in Checkpoints())
            yield return new OutputFile(OutputFile.Checkpoints, System.IO.Path.GetFileName(path), path);
        if (LatestPlot() is { } plot)
        {
            yield return new OutputFile(OutputFile.Plots, System.IO.Path.GetFileName(plot.Pdf), plot.Pdf);
            yield return new OutputFile(OutputFile.Plots, System.IO.Path.GetFileName(plot.Png), plot.Png);
        }
        foreach (var (_, path) in ValidationImages())
            yield return new OutputFile(OutputFile.Validation, System.IO.Path.GetFileName(path), path);
        if (File.Exists(LoraPath))
            yield return new OutputFile(OutputFile.Lora, LoraFileName, LoraPath);
    }

    /// <summary>
    /// Where a new run that asked for <paramref name="requested"/> goes: there if it does not exist yet or is empty, else,
    /// as the original app does, beside it with the time appended (<c>train_20250101_120000</c>), so no run overwrites another.
    /// </summary>
    public static string ForNewRun(string requested, DateTime now)
    {
        var full = System.IO.Path.GetFullPath(requested);
        if (!Directory.Exists(full) || !Directory.EnumerateFileSystemEntries(full).Any())
            return full;
        var stamped = $"{System.IO.Path.TrimEndingDirectorySeparator(full)}_{now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture)}";
        for (int n = 2; Directory.Exists(stamped) && Directory.EnumerateFileSystemEntries(stamped).Any(); n++)
            stamped = $"{System.IO.Path.TrimEndingDirectorySeparator(full)}_{now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture)}_{n}";
        return stamped;
    }

    /// <summary>The run a checkpoint belongs to: the folder holding its <c>_checkpoints</c> folder, or null for a zip kept elsewhere.</summary>
    public static string? OfCheckpoint(string zipPath)
    {
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(zipPath));
        return folder is not null && System.IO.Path.GetFileName(folder) == CheckpointsFolderName ? System.IO.Path.GetDirectoryName(folder) : null;
    }

    private static string Number(int iteration) => iteration.ToString("D7", CultureInfo.InvariantCulture);

    private static List<(int Iteration, string Path)> Numbered(string folder, string suffix)
    {
        if (!Directory.Exists(folder)) return [];
        return [.. Directory.EnumerateFiles(folder, "*" + suffix)
            .Select(file => (Name: System.IO.Path.GetFileName(file), File: file))
            .Where(entry => entry.Name.Length == 7 + suffix.Length && entry.Name.EndsWith(suffix, StringComparison.Ordinal))
            .Select(entry => (Ok: int.TryParse(entry.Name.AsSpan(0, 7), NumberStyles.None, CultureInfo.InvariantCulture, out var n), Iteration: n, entry.File))
            .Where(entry => entry.Ok)
            .Select(entry => (entry.Iteration, entry.File))
            .OrderBy(entry => entry.Iteration)];
    }
}

/// <summary>A file of a run's output folder, of kind <see cref="Checkpoints"/>, <see cref="Plots"/>, <see cref="Validation"/> or <see cref="Lora"/>.</summary>
public sealed record OutputFile(string Kind, string Name, string Path)
{
    public const string Checkpoints = "checkpoints";
    public const string Plots = "plots";
    public const string Validation = "validation";
    public const string Lora = "lora";
}
