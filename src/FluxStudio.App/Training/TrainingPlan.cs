using System.Text.Json.Serialization;
using FluxStudio.Engine.Training;

namespace FluxStudio.App.Training;

/// <summary>What the command line or a request changes of a configuration: the model flags of <c>generate</c>.</summary>
/// <param name="Model">"dev" or "schnell", instead of the configuration's <c>model</c>.</param>
/// <param name="ModelPath">A model folder (or single-file transformer) to load instead of the published model.</param>
/// <param name="Quantize">4 or 8, instead of the configuration's <c>quantize</c>.</param>
public sealed record TrainingOverrides(string? Model = null, string? ModelPath = null, int? Quantize = null)
{
    internal TrainingConfig Apply(TrainingConfig config) => config with
    {
        Model = Model ?? config.Model,
        Quantize = Quantize ?? config.Quantize,
    };
}

/// <summary>
/// A training run as it is queued and stored: the configuration it runs (the examples' folder absolute, as the original
/// app stores it in its checkpoints, so a run can move), the folder its outputs go to, the checkpoint it continues from,
/// and the model folder that replaces the published model.
/// </summary>
public sealed record TrainingPlan
{
    public required string ConfigJson { get; init; }

    /// <summary>Absolute: where the checkpoints, plots, validation images and the LoRA go.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>A checkpoint zip to continue from; null starts from nothing.</summary>
    public string? ResumeFrom { get; init; }

    public string? ModelPath { get; init; }

    /// <summary>The LoRA's activation keyword in the catalog; null takes it from the captions (<see cref="TriggerWord"/>).</summary>
    public string? TriggerWord { get; init; }

    /// <summary>The trained LoRA's name in the LoRA folder (made unique there); null names it after the output folder.</summary>
    public string? LoraName { get; init; }

    /// <summary>What was noticed when the plan was made (keys the configuration does not know), in sentences.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    [JsonIgnore]
    public TrainingConfig Config => TrainingConfig.FromJson(ConfigJson);

    /// <summary>
    /// A new run from a configuration file: its relative examples folder and output folder are taken from the file's
    /// folder, and the output folder is a new one when the named one is in use (<see cref="TrainingOutputFolder.ForNewRun"/>).
    /// </summary>
    /// <exception cref="TrainingConfigException">The file cannot be used; the problems name the keys.</exception>
    public static TrainingPlan FromConfigFile(string configPath, TrainingOverrides overrides, DateTime now)
    {
        var path = Path.GetFullPath(configPath);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingConfigException("", $"The training configuration {path} cannot be read: {e.Message}");
        }
        var folder = Path.GetDirectoryName(path)!;
        var file = TrainingConfigFile.Parse(json, folder);
        var output = TrainingOutputFolder.ForNewRun(Path.GetFullPath(file.Config.Save.OutputPath, folder), now);
        return Create(file, overrides, output, resumeFrom: null);
    }

    /// <summary>
    /// A run that continues from a checkpoint zip (this app's or the original app's) into the folder of the run it belongs to:
    /// the folder holding its <c>_checkpoints</c> folder, else its configuration's output folder. Relative paths in its
    /// configuration are taken from the zip's folder.
    /// </summary>
    /// <exception cref="FormatException">The zip is not a checkpoint.</exception>
    /// <exception cref="TrainingConfigException">Its configuration cannot be used.</exception>
    public static TrainingPlan FromCheckpoint(string zipPath, TrainingOverrides overrides)
    {
        var path = Path.GetFullPath(zipPath);
        using var checkpoint = TrainingCheckpoint.Open(path);
        var folder = Path.GetDirectoryName(path)!;
        var file = TrainingConfigFile.Parse(checkpoint.ConfigJson, folder);
        var output = TrainingOutputFolder.OfCheckpoint(path) ?? Path.GetFullPath(file.Config.Save.OutputPath, folder);
        return Create(file, overrides, output, path);
    }

    /// <summary>A run from a configuration already read, its examples folder absolute.</summary>
    public static TrainingPlan Create(TrainingConfigFile file, TrainingOverrides overrides, string outputFolder, string? resumeFrom)
    {
        var config = overrides.Apply(file.Config);
        var problems = config.KeyedProblems();
        if (problems.Count > 0) throw new TrainingConfigException(problems);
        return new TrainingPlan
        {
            ConfigJson = config.ToJson(),
            OutputFolder = Path.GetFullPath(outputFolder),
            ResumeFrom = resumeFrom,
            ModelPath = overrides.ModelPath is { } model ? Path.GetFullPath(model) : null,
            Warnings = [.. file.UnknownKeys.Select(key => $"The configuration key \"{key}\" is not one FluxStudio knows; it was ignored.")],
        };
    }
}
