using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Training;

/// <summary>A training image at the training size, with its description.</summary>
public sealed record TrainingSample(RgbImage Image, string Prompt);

/// <summary>The saved state a run continues from: a checkpoint's adapter and optimizer files and its iterator state.</summary>
public sealed record TrainingResumePoint(string AdapterPath, string OptimizerPath, string IteratorJson);

/// <summary>What a session is doing while it opens: encoding example <see cref="Done"/> of <see cref="Count"/>.</summary>
public sealed record TrainingPreparation(int Done, int Count);

/// <summary>
/// One run of LoRA training on a loaded model, as the original app's trainer runs it: the examples encoded once (then
/// the text encoders and the VAE released), the LoRA and optimizer created from the configuration or restored from a
/// checkpoint, and batches taken from the <see cref="TrainingIterator"/> one <see cref="Step"/> at a time until its
/// epochs are done. Everything that decides the next step is in <see cref="SaveState"/>'s files and
/// <see cref="IteratorJson"/>, so a run continued from them makes the same steps as one that never stopped.
/// </summary>
/// <remarks>
/// A step that is cancelled part-way has already drawn its noise from the iterator's generator; continue from the last
/// saved state, never from the state of a cancelled session.
/// </remarks>
public sealed class LoraTrainingSession : IDisposable
{
    private readonly FluxPipeline _pipeline;
    private readonly List<TrainingExample> _examples;
    private readonly LoraTrainer _trainer;

    private LoraTrainingSession(FluxPipeline pipeline, TrainingConfig config, List<TrainingExample> examples, LoraTrainer trainer,
        TrainingIterator iterator)
    {
        (_pipeline, Config, _examples, _trainer, Iterator) = (pipeline, config, examples, trainer, iterator);
    }

    public TrainingConfig Config { get; }

    public TrainingIterator Iterator { get; }

    /// <summary>Steps made so far, counting those made before the state this session continued from.</summary>
    public int Iteration => Iterator.NumIterations;

    /// <summary>Steps in the whole run: one batch per step, every epoch ending with a batch of what is left.</summary>
    public int TotalSteps => StepsOf(Config, _examples.Count);

    /// <summary>The steps of a run of <paramref name="config"/> on <paramref name="exampleCount"/> examples.</summary>
    public static int StepsOf(TrainingConfig config, int exampleCount) =>
        config.TrainingLoop.NumEpochs * (int)Math.Ceiling(exampleCount / (double)config.TrainingLoop.BatchSize);

    /// <summary>
    /// Encodes the samples with the model's VAE and text encoders, releases those, and starts a new LoRA as
    /// <paramref name="config"/> describes it, or restores the one of <paramref name="resume"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration selects layers this model does not have.</exception>
    /// <exception cref="FormatException">The saved state does not belong to this configuration and these samples.</exception>
    public static LoraTrainingSession Open(FluxPipeline pipeline, TrainingConfig config, IReadOnlyList<TrainingSample> samples,
        TrainingResumePoint? resume, IProgress<TrainingPreparation>? progress = null, CancellationToken cancellationToken = default)
    {
        if (samples.Count == 0) throw new ArgumentException("Training needs at least one image.", nameof(samples));
        var examples = new List<TrainingExample>();
        LoraTrainer? trainer = null;
        try
        {
            foreach (var sample in samples)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new TrainingPreparation(examples.Count, samples.Count));
                examples.Add(TrainingExample.Encode(pipeline, sample.Image, sample.Prompt));
            }
            progress?.Report(new TrainingPreparation(examples.Count, samples.Count));
            // From here on only the transformer is needed; a validation image loads the others again for a moment.
            pipeline.Model.ReleaseEncoders();

            var transformer = pipeline.Model.Transformer;
            TrainingIterator iterator;
            if (resume is null)
            {
                trainer = LoraTrainer.Create(transformer, config);
                iterator = TrainingIterator.Start(examples.Count, config.TrainingLoop.BatchSize, config.TrainingLoop.NumEpochs, config.Seed);
            }
            else
            {
                trainer = LoraTrainer.Resume(transformer, config, resume.AdapterPath, resume.OptimizerPath);
                iterator = TrainingIterator.FromJson(resume.IteratorJson, examples.Count);
                if (iterator.NumIterations != trainer.Iteration)
                    throw new FormatException(
                        $"The saved state does not fit together: its iterator has made {iterator.NumIterations} steps and its optimizer " +
                        $"{trainer.Iteration}. Continue from a checkpoint written whole.");
            }
            return new LoraTrainingSession(pipeline, config, examples, trainer, iterator);
        }
        catch
        {
            trainer?.Dispose();
            foreach (var example in examples) example.Dispose();
            throw;
        }
    }

    /// <summary>Trains on the next batch; null when every epoch is done.</summary>
    public TrainingStepResult? Step(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var batch = Iterator.Next();
        if (batch is null) return null;
        return _trainer.Step([.. batch.Select(i => _examples[i])], Iterator.Random, cancellationToken);
    }

    /// <summary>Writes the factors and the optimizer state as the original app's checkpoint files (see <see cref="LoraTrainer.SaveState"/>).</summary>
    public void SaveState(string adapterPath, string optimizerPath) => _trainer.SaveState(adapterPath, optimizerPath);

    /// <summary>The iterator's state, the original app's <c>iterator.json</c>.</summary>
    public string IteratorJson => Iterator.ToJson();

    /// <summary>The LoRA as trained so far, as a PEFT/diffusers file that the generator, diffusers and ComfyUI load.</summary>
    public void SaveLora(string path) => _trainer.Lora.SavePeft(path);

    /// <summary>
    /// An image of <paramref name="prompt"/> from the model with the LoRA as trained so far, made by the generation
    /// pipeline with the run's seed, steps, guidance and size, as the original app renders its validation images. The
    /// text encoders it loads are released again afterwards.
    /// </summary>
    public FluxGenerationResult ValidationImage(string prompt, CancellationToken cancellationToken = default)
    {
        try
        {
            return _pipeline.Generate(new FluxGenerationOptions
            {
                Prompt = prompt,
                Seed = Config.Seed,
                Steps = Config.Steps,
                Guidance = (float)Config.Guidance,
                Width = Config.Width,
                Height = Config.Height,
            }, cancellationToken: cancellationToken);
        }
        finally
        {
            _pipeline.Model.ReleaseEncoders();
        }
    }

    public void Dispose()
    {
        _trainer.Dispose();
        foreach (var example in _examples) example.Dispose();
        _examples.Clear();
    }
}
