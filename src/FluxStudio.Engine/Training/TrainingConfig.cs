using System.Text.Json;
using System.Text.Json.Serialization;

namespace FluxStudio.Engine.Training;

/// <summary>
/// A LoRA training run in the original app's terms: the JSON it writes for its trainer (<c>train.json</c>, and the
/// <c>config.json</c> of every checkpoint) reads and writes unchanged. Two settings the original does not have choose
/// between its conventions and PEFT's: <see cref="OptimizerConfig.BiasCorrection"/> and
/// <see cref="LoraLayersConfig.Initialization"/>.
/// </summary>
public sealed record TrainingConfig
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>"dev" or "schnell".</summary>
    public string Model { get; init; } = "dev";

    /// <summary>Seeds the LoRA initialisation and the generator of the example order, timesteps and noise.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>4 or 8 to train on a quantized base (QLoRA), null for the full-precision model.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] // the original app's reader requires the key, null or not
    public int? Quantize { get; init; }

    /// <summary>Inference steps: the timestep of each example is drawn from this many values of the generation schedule.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>The guidance input of dev models during training.</summary>
    public double Guidance { get; init; } = 3.0;

    public int Width { get; init; } = 512;

    public int Height { get; init; } = 512;

    public TrainingLoopConfig TrainingLoop { get; init; } = new();

    public OptimizerConfig Optimizer { get; init; } = new();

    public SaveConfig Save { get; init; } = new();

    public InstrumentationConfig? Instrumentation { get; init; }

    public LoraLayersConfig LoraLayers { get; init; } = LoraLayersConfig.OriginalDefault;

    public ExamplesConfig Examples { get; init; } = new();

    public static TrainingConfig FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingConfig>(json, Json)
                ?? throw new FormatException("The training configuration is empty.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"The training configuration is not valid JSON of the expected shape: {e.Message}", e);
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>What is wrong with the settings, as sentences a person can act on; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems() => [.. KeyedProblems().Select(problem => problem.Message)];

    /// <summary>What is wrong with the settings, each sentence with the key of the setting it is about.</summary>
    public IReadOnlyList<ConfigProblem> KeyedProblems()
    {
        var problems = new List<ConfigProblem>();
        void Check(bool ok, string key, string problem)
        {
            if (!ok) problems.Add(new ConfigProblem(key, problem));
        }
        Check(Model is "dev" or "schnell", "model", $"The model must be \"dev\" or \"schnell\", not \"{Model}\".");
        Check(Quantize is null or 4 or 8, "quantize", $"Quantize must be 4, 8 or null (full precision), not {Quantize}.");
        Check(Steps is >= 1 and <= 1000, "steps", $"Steps must be between 1 and 1000, not {Steps}.");
        Check(double.IsFinite(Guidance) && Guidance is >= 0 and <= 100, "guidance", $"Guidance must be a number between 0 and 100, not {Guidance}.");
        foreach (var (name, value) in new[] { ("width", Width), ("height", Height) })
            Check(value is >= 16 and <= 4096 && value % 16 == 0, name, $"The {name} must be a multiple of 16 between 16 and 4096 pixels, not {value}.");
        Check(TrainingLoop.NumEpochs >= 1, "training_loop.num_epochs", $"num_epochs must be at least 1, not {TrainingLoop.NumEpochs}.");
        Check(TrainingLoop.BatchSize >= 1, "training_loop.batch_size", $"batch_size must be at least 1, not {TrainingLoop.BatchSize}.");
        problems.AddRange(Optimizer.Problems().Select(p => p with { Key = $"optimizer.{p.Key}" }));
        Check(Save.CheckpointFrequency >= 1, "save.checkpoint_frequency", $"checkpoint_frequency must be at least 1, not {Save.CheckpointFrequency}.");
        if (Instrumentation is { } instrumentation)
        {
            Check(instrumentation.PlotFrequency >= 1, "instrumentation.plot_frequency", $"plot_frequency must be at least 1, not {instrumentation.PlotFrequency}.");
            Check(instrumentation.GenerateImageFrequency >= 1, "instrumentation.generate_image_frequency",
                $"generate_image_frequency must be at least 1, not {instrumentation.GenerateImageFrequency}.");
        }
        problems.AddRange(LoraLayers.Problems().Select(p => p with { Key = $"lora_layers.{p.Key}" }));
        Check(Examples.Images.Count > 0, "examples.images", "examples.images is empty: add at least one training image with a description.");
        return problems;
    }
}

/// <summary>A setting that cannot be used: its key in the configuration (<c>optimizer.learning_rate</c>) and why.</summary>
public sealed record ConfigProblem(string Key, string Message);

public sealed record TrainingLoopConfig
{
    public int NumEpochs { get; init; } = 100;

    public int BatchSize { get; init; } = 1;
}

/// <summary>
/// AdamW (or Adam, without weight decay) with the original app's learning rate. The other values are MLX's and
/// PyTorch's defaults, which the original app never changes.
/// </summary>
public sealed record OptimizerConfig
{
    public string Name { get; init; } = "AdamW";

    public double LearningRate { get; init; } = 1e-4;

    /// <summary>
    /// True (the default when absent): PyTorch's <c>torch.optim.AdamW</c>, which divides the moments by their bias
    /// corrections, as PEFT and diffusers training does. False: MLX's AdamW as the original app runs it (no bias
    /// correction, so early steps are about 3× larger), for step-for-step parity with it.
    /// </summary>
    public bool? BiasCorrection { get; init; }

    /// <summary>Decoupled weight decay of AdamW (default 0.01); Adam has none.</summary>
    public double? WeightDecay { get; init; }

    public IReadOnlyList<double>? Betas { get; init; }

    public double? Eps { get; init; }

    internal AdamWSettings Settings => new(
        LearningRate,
        Betas?[0] ?? AdamWSettings.DefaultBeta1,
        Betas?[1] ?? AdamWSettings.DefaultBeta2,
        Eps ?? AdamWSettings.DefaultEps,
        Name == "Adam" ? 0 : WeightDecay ?? AdamWSettings.DefaultWeightDecay,
        BiasCorrection ?? true);

    internal IEnumerable<ConfigProblem> Problems()
    {
        if (Name is not ("AdamW" or "Adam"))
            yield return new("name", $"The optimizer name must be \"AdamW\" or \"Adam\", not \"{Name}\".");
        if (!double.IsFinite(LearningRate) || LearningRate <= 0 || LearningRate > 1)
            yield return new("learning_rate", $"The learning_rate must be a positive number up to 1 (1e-4 is usual), not {LearningRate}.");
        if (Betas is { } betas && (betas.Count != 2 || betas.Any(b => !(b is >= 0 and < 1))))
            yield return new("betas", "betas must be two numbers in [0, 1), such as [0.9, 0.999].");
        if (Eps is { } eps && !(eps > 0 && double.IsFinite(eps)))
            yield return new("eps", $"eps must be a small positive number, not {eps}.");
        if (WeightDecay is { } decay && !(decay >= 0 && double.IsFinite(decay)))
            yield return new("weight_decay", $"weight_decay must be zero or positive, not {decay}.");
        if (Name == "Adam" && WeightDecay is > 0)
            yield return new("weight_decay", "Adam has no weight decay; choose AdamW to use weight_decay.");
    }
}

public sealed record SaveConfig
{
    public int CheckpointFrequency { get; init; } = 10;

    public string OutputPath { get; init; } = "train";
}

/// <summary>How often the original app plots the loss and renders a validation image, and from which prompt.</summary>
public sealed record InstrumentationConfig
{
    public int PlotFrequency { get; init; } = 1;

    public int GenerateImageFrequency { get; init; } = 20;

    public string ValidationPrompt { get; init; } = "";
}

/// <summary>The training images: file names relative to <see cref="Path"/>, each with its own description.</summary>
public sealed record ExamplesConfig
{
    public string Path { get; init; } = ".";

    public IReadOnlyList<TrainingImage> Images { get; init; } = [];
}

public sealed record TrainingImage(string Image, string Prompt);
