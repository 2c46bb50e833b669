using System.Data.Common;
using System.Runtime.CompilerServices;
using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.App.Generation;

/// <summary>Where a generation's images go besides the engine.</summary>
public sealed record GenerationOutput
{
    /// <summary>
    /// Save each image under the output root and record it in history (the CLI's <c>--no-history</c> turns it off).
    /// History owns those files: it serves them, and deletes them with the entry.
    /// </summary>
    public bool History { get; init; } = true;

    /// <summary>
    /// Also write the user's own copy here (the CLI's <c>--output</c>), with its JSON sidecar when metadata is on and the
    /// edge map when the request asks to save it. The images of a batch are named <c>{stem}_seed_{seed}{extension}</c>
    /// beside it, as mflux names them.
    /// </summary>
    public string? CopyTo { get; init; }

    /// <summary>The device whose <see cref="IImageGenerator"/> runs it (a keyed service, else the unkeyed one).</summary>
    public string Device { get; init; } = "default";

    /// <summary>The batch id to record for a request of several images (the queue gives its job's, so a re-run continues it); null: a new one.</summary>
    public string? BatchId { get; init; }

    /// <summary>For a queued job: the run's claim. Each image is saved only together with its job recording it.</summary>
    public JobRun? Job { get; init; }

    /// <summary>
    /// Where the pictures the request names (by the paths of the machine that queued it) are on this machine, when a
    /// worker on another machine copied them here from the database. The engine reads the copies; history records the
    /// request's paths.
    /// </summary>
    public IReadOnlyDictionary<string, string> InputCopies { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A queued job's run, as the use case sees it: the run's claim on its job, and how the job records an image (given its
/// history id) inside the transaction that saves it (false when the run no longer holds the job).
/// </summary>
public sealed record JobRun(string Claim, Func<DbTransaction, long, CancellationToken, Task<bool>> AddImageAsync);

/// <summary>
/// One finished image of a generation: its record (with its history id and file when it was saved there), which image
/// of the batch it is, where the user's copies went, and what the engine changed or ignored.
/// </summary>
public sealed record GenerationOutcome(HistoryEntry Record, bool InHistory, string? CopyPath, IReadOnlyList<string> Warnings)
{
    /// <summary>Which image of the batch, from 1.</summary>
    public int Image { get; init; } = 1;

    public int Images { get; init; } = 1;

    /// <summary>The edge map written beside <see cref="CopyPath"/>, when the request asked to save it.</summary>
    public string? ControlNetCannyCopyPath { get; init; }
}

/// <summary>
/// The one way the studio makes images, called by the queue's worker (web UI and REST API) and by the CLI: validate
/// the request, prepare it (every seed of the batch, LoRA keywords, LoRA files, the input pictures' hashes), run the
/// engine, and write each image's PNG (with its <c>parameters</c>), sidecar, edge map and history row from what the
/// engine reports it ran (<see cref="GenerationRecord"/>), as soon as it is made. A new generation setting is added to
/// <see cref="GenerationRequest"/>, passed to the engine in <see cref="FluxImageGenerator.ToEngineOptions"/> and
/// recorded from the engine's result; nothing else changes.
/// </summary>
public sealed class ImageGenerationService(
    GenerationRequestValidator validator,
    LoraCatalog loras,
    OutputStore outputs,
    IServiceProvider services,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// Makes the request's images one after another and yields each once it is saved, so a batch that is cancelled or
    /// fails part-way keeps the images already made.
    /// </summary>
    /// <exception cref="RequestValidationException">The request breaks a rule; the messages say what to change.</exception>
    public async IAsyncEnumerable<GenerationOutcome> GenerateAsync(GenerationRequest request, GenerationOutput output,
        IProgress<GenerationProgress> progress, [EnumeratorCancellation] CancellationToken ct)
    {
        if (output.Job is not null && !output.History)
            throw new ArgumentException("A queued job's images are always saved in history.", nameof(output));
        // The engine reads the pictures where they are on this machine; history records them as the request names them.
        var local = request with
        {
            ControlNetImagePath = LocalCopy(output, request.ControlNetImagePath),
            InitImagePath = LocalCopy(output, request.InitImagePath),
        };
        // Checked again when a queued job runs: a LoRA, a picture or a model folder may have gone since it was queued.
        validator.EnsureValid(local);
        var generator = ResolveGenerator(output.Device);
        var prepared = Prepare(local);
        var inputs = await InputHashes.OfAsync(prepared, ct);
        var images = prepared.Seeds.Count;
        var batchId = images > 1 ? output.BatchId ?? Guid.NewGuid().ToString("N") : output.BatchId;

        var image = 0;
        await foreach (var generated in generator.GenerateAsync(prepared, progress, ct).WithCancellation(ct))
        {
            ct.ThrowIfCancellationRequested();
            image++;
            var run = generated.Run;
            var made = prepared with
            {
                Seed = (long)run.Seed, Seeds = [], BatchCount = 1,
                ControlNetImagePath = request.ControlNetImagePath, InitImagePath = request.InitImagePath,
            };
            var record = GenerationRecord.Describe(made, run, _time.GetLocalNow(), inputs, batchId);
            string? copy = output.CopyTo is { } path ? CopyPath(path, run.Seed, images) : null, cannyCopy = null;
            try
            {
                var files = OutputStore.Encode(record, run);
                if (output.History)
                    record = await outputs.SaveAsync(record, files, request.Metadata, ct,
                        output.Job is { } job ? new SaveClaim(job.Claim, job.AddImageAsync) : null);
                if (copy is not null)
                    cannyCopy = await OutputStore.ExportAsync(record, files, copy, request.Metadata, request.ControlNetSaveCanny, ct);
            }
            catch (Exception e) when (EngineMemoryException.IsAllocationFailure(e))
            {
                throw new EngineMemoryException(MemoryShortfall.Unplanned(run.Width, run.Height, "saving the image", SizeMultiple(request)), e);
            }
            yield return new GenerationOutcome(record, output.History, copy, GenerationRecord.Warnings(request, run))
            {
                Image = image, Images = images, ControlNetCannyCopyPath = cannyCopy,
            };
        }
    }

    private static string? LocalCopy(GenerationOutput output, string? path) =>
        path is not null && output.InputCopies.TryGetValue(path, out var copy) ? copy : path;

    /// <summary>Width and height of the request's model are multiples of this.</summary>
    public int SizeMultiple(GenerationRequest request) => validator.SizeRuleFor(request).Multiple;

    /// <summary>
    /// The request as the engine gets it: every seed of the batch chosen (a random one for each 0, all different), the
    /// LoRAs' activation keywords put in the prompt, and LoRA names resolved to files in the LoRA folder (full paths stay
    /// as they are).
    /// </summary>
    private GenerationRequest Prepare(GenerationRequest request)
    {
        var catalog = loras.GetSnapshot();
        var seeds = new List<long>();
        foreach (var seed in request.BatchSeeds())
        {
            var chosen = seed;
            while (chosen == 0 || (seed == 0 && seeds.Contains(chosen)))
                chosen = (long)FluxGenerationOptions.RandomSeed();
            seeds.Add(chosen);
        }
        return request with
        {
            Seed = seeds[0],
            Seeds = seeds,
            BatchCount = seeds.Count,
            Prompt = catalog.ComposePrompt(request.Prompt, request.Loras.Select(l => l.Name)),
            Loras = request.Loras.Select(l => l with { Name = Path.IsPathFullyQualified(l.Name) ? l.Name : loras.GetFullPath(l.Name) }).ToList(),
        };
    }

    /// <summary>The user's copy of one image: the path asked for, or for a batch <c>{stem}_seed_{seed}</c> beside it.</summary>
    private static string CopyPath(string path, ulong seed, int images) =>
        images == 1 ? path : Path.Combine(Path.GetDirectoryName(path) ?? ".", $"{Path.GetFileNameWithoutExtension(path)}_seed_{seed}{Path.GetExtension(path)}");

    private IImageGenerator ResolveGenerator(string device) =>
        (services as IKeyedServiceProvider)?.GetKeyedService<IImageGenerator>(device)
        ?? services.GetService<IImageGenerator>()
        ?? throw new InvalidOperationException(
            $"No image generator is installed for device \"{device}\". Check that the model engine is configured, then try again.");
}
