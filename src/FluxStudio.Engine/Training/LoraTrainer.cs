using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>The loss of one example in a step, with the noise level it was drawn at.</summary>
public sealed record ExampleLoss(float Loss, int TimestepIndex, float Sigma);

/// <param name="Iteration">The optimizer update this step made (1 for the first).</param>
/// <param name="Loss">The batch loss before the update: the mean of the example losses.</param>
public sealed record TrainingStepResult(long Iteration, float Loss, IReadOnlyList<ExampleLoss> Examples);

/// <param name="Steps">The schedule training draws noise levels from (the configuration's inference steps).</param>
/// <param name="Guidance">The guidance input of guidance-distilled (dev) models; ignored for others.</param>
/// <param name="RecomputeBlocks">Gradient checkpointing of the blocks (<see cref="BlockCheckpointing"/>): needed for the
/// real model's memory, not for tiny ones.</param>
public sealed record TrainerSettings(int Steps, double Guidance, bool RecomputeBlocks = true)
{
    public static TrainerSettings From(TrainingConfig config) => new(config.Steps, config.Guidance);
}

/// <summary>
/// The gradient step of LoRA training on FLUX.1, as the original app's trainer makes it: the flow-matching loss of each
/// example of a batch at its drawn noise level (<see cref="FlowMatchingObjective"/>), the batch loss as the mean of the
/// example losses, its gradient by autograd into the LoRA factors only, and one AdamW update. Everything that moves is
/// here and can be saved and restored exactly (<see cref="SaveState"/>): the factors (<see cref="Lora"/>) and the
/// optimizer state with its update count (<see cref="Optimizer"/>). The random draws come from the caller's
/// <see cref="PythonRandom"/>, normally the <see cref="TrainingIterator"/>'s, whose state is saved with it.
/// </summary>
/// <remarks>
/// The examples of a batch go through forward and backward one at a time, each loss divided by the batch size, so that
/// the memory of a step is that of one example whatever the batch size; the gradients add up to those of the batch loss.
/// </remarks>
public sealed class LoraTrainer : IDisposable
{
    private readonly BlockCheckpointing? _checkpointing;
    private readonly IBlockRunner? _previousRunner;

    /// <summary>Trains <paramref name="lora"/> with <paramref name="optimizer"/>; the trainer owns and disposes both.</summary>
    public LoraTrainer(TrainableLora lora, AdamW optimizer, TrainerSettings settings)
    {
        Lora = lora;
        Optimizer = optimizer;
        Settings = settings;
        Transformer = lora.Transformer;
        Objective = new FlowMatchingObjective(Transformer, settings.Steps, settings.Guidance);
        foreach (var parameter in Transformer.parameters()) parameter.requires_grad_(false);
        if (settings.RecomputeBlocks)
        {
            _previousRunner = Transformer.BlockRunner;
            _checkpointing = new BlockCheckpointing(lora.FactorsByBlock());
            Transformer.BlockRunner = _checkpointing;
        }
    }

    /// <summary>A new LoRA as the configuration describes it (initialised from its seed) and a new optimizer.</summary>
    public static LoraTrainer Create(FluxTransformer transformer, TrainingConfig config, bool recomputeBlocks = true)
    {
        // The factors and the optimizer's moments leave the scope as they are made; anything else made here is freed.
        using var scope = NewDisposeScope();
        var lora = TrainableLora.Create(transformer, config.LoraLayers, config.Seed);
        return new LoraTrainer(lora, new AdamW(lora.Parameters, config.Optimizer.Settings),
            TrainerSettings.From(config) with { RecomputeBlocks = recomputeBlocks });
    }

    /// <summary>Continues from a saved adapter and optimizer state (<see cref="SaveState"/>, or the original app's checkpoint files).</summary>
    public static LoraTrainer Resume(FluxTransformer transformer, TrainingConfig config, string adapterPath, string optimizerPath,
        bool recomputeBlocks = true)
    {
        var trainer = Create(transformer, config, recomputeBlocks);
        try
        {
            trainer.LoadState(adapterPath, optimizerPath);
            return trainer;
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }

    public FluxTransformer Transformer { get; }

    public TrainableLora Lora { get; }

    public AdamW Optimizer { get; }

    public TrainerSettings Settings { get; }

    public FlowMatchingObjective Objective { get; }

    /// <summary>Updates made so far.</summary>
    public long Iteration => Optimizer.StepCount;

    /// <summary>Draws each example's noise level and noise from <paramref name="random"/>, in batch order, then makes one update.</summary>
    public TrainingStepResult Step(IReadOnlyList<TrainingExample> batch, PythonRandom random, CancellationToken cancellationToken = default) =>
        WithDraws(batch, random, draws => Step(batch, draws, cancellationToken));

    /// <summary>One update from the batch with the given draws (one per example).</summary>
    public TrainingStepResult Step(IReadOnlyList<TrainingExample> batch, IReadOnlyList<NoiseDraw> draws,
        CancellationToken cancellationToken = default)
    {
        CheckBatch(batch, draws);
        Optimizer.ZeroGrad();
        var losses = new List<ExampleLoss>();
        for (int i = 0; i < batch.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var forward = Objective.Forward(batch[i], draws[i]);
            try
            {
                using var batchSize = batch.Count.ToScalar();
                forward.Loss.div(batchSize).backward();
            }
            finally
            {
                _checkpointing?.ReleaseGradients();
            }
            losses.Add(new ExampleLoss(forward.Loss.item<float>(), draws[i].TimestepIndex, forward.Sigma));
        }
        cancellationToken.ThrowIfCancellationRequested();
        Optimizer.Step();
        NativeHeap.FreeStepLeftovers();
        return new TrainingStepResult(Iteration, BatchLoss(losses), losses);
    }

    /// <summary>The batch loss without an update (the original app's periodic "validation" loss), drawing from <paramref name="random"/>.</summary>
    public float Loss(IReadOnlyList<TrainingExample> batch, PythonRandom random) =>
        WithDraws(batch, random, draws => Loss(batch, draws));

    public float Loss(IReadOnlyList<TrainingExample> batch, IReadOnlyList<NoiseDraw> draws)
    {
        CheckBatch(batch, draws);
        using var _ = no_grad();
        var losses = new List<ExampleLoss>();
        for (int i = 0; i < batch.Count; i++)
        {
            using var scope = NewDisposeScope();
            var forward = Objective.Forward(batch[i], draws[i]);
            losses.Add(new ExampleLoss(forward.Loss.item<float>(), draws[i].TimestepIndex, forward.Sigma));
        }
        return BatchLoss(losses);
    }

    /// <summary>Writes the factors and the optimizer state as the original app's checkpoint files do.</summary>
    public void SaveState(string adapterPath, string optimizerPath)
    {
        Lora.SaveCheckpointAdapter(adapterPath);
        Optimizer.Save(optimizerPath, CheckpointName);
    }

    /// <summary>Restores the factors and the optimizer state from <see cref="SaveState"/>'s files (or the original app's).</summary>
    public void LoadState(string adapterPath, string optimizerPath)
    {
        Lora.LoadFactors(adapterPath);
        Optimizer.Load(optimizerPath, CheckpointName);
    }

    /// <summary>The checkpoint name of a factor (<c>….lora_A</c>) from its PEFT name (<c>….lora_A.weight</c>).</summary>
    private string CheckpointName(string peftName)
    {
        foreach (var module in Lora.Modules)
        {
            if (peftName == module.PeftA) return module.CheckpointA;
            if (peftName == module.PeftB) return module.CheckpointB;
        }
        throw new KeyNotFoundException($"'{peftName}' is not a factor of this LoRA.");
    }

    /// <summary>Draws for the examples in batch order (each its time seed, then its noise seed), used, then freed.</summary>
    private T WithDraws<T>(IReadOnlyList<TrainingExample> batch, PythonRandom random, Func<IReadOnlyList<NoiseDraw>, T> use)
    {
        var draws = new List<NoiseDraw>();
        try
        {
            foreach (var example in batch) draws.Add(NoiseDraw.Draw(random, example, Settings.Steps));
            return use(draws);
        }
        finally
        {
            foreach (var draw in draws) draw.Dispose();
        }
    }

    private static void CheckBatch(IReadOnlyList<TrainingExample> batch, IReadOnlyList<NoiseDraw> draws)
    {
        if (batch.Count == 0) throw new ArgumentException("A batch needs at least one example.", nameof(batch));
        if (draws.Count != batch.Count)
            throw new ArgumentException($"{batch.Count} examples need {batch.Count} draws, not {draws.Count}.", nameof(draws));
    }

    /// <summary>The mean of the example losses in float32, as the original app averages them.</summary>
    private static float BatchLoss(IReadOnlyList<ExampleLoss> losses)
    {
        float sum = 0;
        foreach (var loss in losses) sum += loss.Loss;
        return sum / losses.Count;
    }

    public void Dispose()
    {
        if (_checkpointing is not null && ReferenceEquals(Transformer.BlockRunner, _checkpointing))
            Transformer.BlockRunner = _previousRunner;
        Optimizer.Dispose();
        Lora.Dispose();
    }
}
