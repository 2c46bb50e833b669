using System.Text.Json.Nodes;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Training;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>
/// tests/Fixtures/training-tiny: its manifest, the inputs of its two-example batch, its configuration and the model of
/// pipeline-tiny it refers to. Everything a test needs is read from these files.
/// </summary>
internal sealed class TrainingTiny : IDisposable
{
    public const string Name = "training-tiny";

    private TrainingTiny()
    {
        Manifest = JsonNode.Parse(File.ReadAllText(PathOf("manifest.json")))!;
        Inputs = SafetensorsFile.Open(PathOf("inputs.safetensors"));
        Config = TrainingConfig.FromJson(File.ReadAllText(CheckpointFile("config")));
        ExampleCount = Inputs.Names.Count(name => name.StartsWith("ex", StringComparison.Ordinal) && name.EndsWith(".x0", StringComparison.Ordinal));
    }

    public static TrainingTiny Open() => new();

    public JsonNode Manifest { get; }

    public SafetensorsFile Inputs { get; }

    /// <summary>The training configuration of the fixture's checkpoint (its LoRA layers, seed, sizes).</summary>
    public TrainingConfig Config { get; }

    public int ExampleCount { get; }

    public static string CheckpointFolder => Directory.GetDirectories(Fixtures.Path(Name), "checkpoint_*").Select(Path.GetFileName).Single()!;

    public static string PathOf(params string[] parts) => Fixtures.Path([Name, .. parts]);

    /// <summary>The checkpoint.json, which lists its other files by role.</summary>
    public static JsonNode CheckpointManifest => JsonNode.Parse(File.ReadAllText(PathOf(CheckpointFolder, "checkpoint.json")))!;

    /// <summary>The path of the checkpoint's file of this role (config, optimizer, lora_adapter, iterator, loss).</summary>
    public static string CheckpointFile(string role) =>
        PathOf(CheckpointFolder, CheckpointManifest["files"]![role]!.GetValue<string>());

    /// <summary>A path of the manifest's <c>model</c> section, relative to the fixture folder.</summary>
    public string ModelPath(string key) => Path.GetFullPath(PathOf(Manifest["model"]![key]!.GetValue<string>()));

    public JsonNode Run => Manifest["run"]!;

    public JsonNode Results => Manifest["results"]!;

    public double Tolerance(string key) => Manifest["tolerances"]![key]!.GetValue<double>();

    public int Steps => Run["steps"]!.GetValue<int>();

    public double Guidance => Run["guidance"]!.GetValue<double>();

    public IReadOnlyList<int> TimestepIndices => [.. Run["t_index"]!.AsArray().Select(i => i!.GetValue<int>())];

    /// <summary>The fixture's model transformer, float32 on the CPU.</summary>
    public FluxTransformer LoadTransformer() => FluxTransformer.Load(Path.Combine(ModelPath("folder"), "transformer"));

    /// <summary>The examples of the batch, built from the stored latents and text embeddings.</summary>
    private List<TrainingExample> Examples() =>
    [
        .. Enumerable.Range(0, ExampleCount).Select(i => new TrainingExample(Inputs.Load($"ex{i}.latent"),
            new TextConditioning(Inputs.Load($"ex{i}.txt"), LatentPacking.TextIds(1, Inputs.Info($"ex{i}.txt").Shape[1]), Inputs.Load($"ex{i}.vec")))),
    ];

    /// <summary>The examples of the batch with their stored draws, freed together.</summary>
    public Batch LoadBatch() => new(Examples(), Draws());

    /// <summary>The stored timestep index and noise of each example.</summary>
    private List<NoiseDraw> Draws() =>
        [.. Enumerable.Range(0, ExampleCount).Select(i => new NoiseDraw(TimestepIndices[i], Inputs.Load($"ex{i}.noise")))];

    public static TrainerSettings Settings(TrainingTiny fixture, bool recomputeBlocks = false) =>
        new(fixture.Steps, fixture.Guidance, recomputeBlocks);

    /// <summary>A trainer on <paramref name="transformer"/> starting from the fixture's init file of this name ("mflux" or "peft").</summary>
    public LoraTrainer Trainer(FluxTransformer transformer, string init, AdamWSettings optimizer, bool recomputeBlocks = false)
    {
        var lora = TrainableLora.Load(transformer, Config.LoraLayers, PathOf($"lora_init_{init}.safetensors"));
        return new LoraTrainer(lora, new AdamW(lora.Parameters, optimizer), Settings(this, recomputeBlocks));
    }

    /// <summary>AdamW as the manifest states it, at learning rate <paramref name="learningRateKey"/>, in the named form ("torch" or "mlx").</summary>
    public AdamWSettings Optimizer(string form, string learningRateKey)
    {
        var optimizer = Manifest["optimizer"]!;
        var betas = optimizer["betas"]!.AsArray();
        return new AdamWSettings(optimizer[learningRateKey]!.GetValue<double>(), betas[0]!.GetValue<double>(), betas[1]!.GetValue<double>(),
            optimizer["eps"]!.GetValue<double>(), optimizer["weight_decay"]!.GetValue<double>(), BiasCorrection: form == "torch");
    }

    public void Dispose() => Inputs.Dispose();
}

internal sealed class Batch(List<TrainingExample> examples, List<NoiseDraw> draws) : IDisposable
{
    public List<TrainingExample> Examples { get; } = examples;

    public List<NoiseDraw> Draws { get; } = draws;

    public void Dispose()
    {
        foreach (var disposable in Examples.Cast<IDisposable>().Concat(Draws)) disposable.Dispose();
    }
}
