using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.App.Generation;

/// <summary>Where a generation's image goes besides the engine.</summary>
public sealed record GenerationOutput
{
    /// <summary>
    /// Save the image under the output root and record it in history (the CLI's <c>--no-history</c> turns it off).
    /// History owns that file: it serves it, and deletes it with the entry.
    /// </summary>
    public bool History { get; init; } = true;

    /// <summary>Also write the user's own copy here (the CLI's <c>--output</c>), with its JSON sidecar when metadata is on.</summary>
    public string? CopyTo { get; init; }

    /// <summary>The device whose <see cref="IImageGenerator"/> runs it (a keyed service, else the unkeyed one).</summary>
    public string Device { get; init; } = "default";
}

/// <summary>
/// A finished generation: its record (with its history id and file when it was saved there), where the user's copy
/// went, and what the engine changed or ignored.
/// </summary>
public sealed record GenerationOutcome(HistoryEntry Record, bool InHistory, string? CopyPath, IReadOnlyList<string> Warnings);

/// <summary>
/// The one way the studio makes an image, called by the queue's worker (web UI and REST API) and by the CLI: validate
/// the request, prepare it (seed, LoRA keywords, LoRA files), run the engine, and write the PNG (with its
/// <c>parameters</c>), the sidecar and the history row from what the engine reports it ran
/// (<see cref="GenerationRecord"/>). A new generation setting is added to <see cref="GenerationRequest"/>, passed to
/// the engine in <see cref="FluxImageGenerator.ToEngineOptions"/> and recorded from the engine's result; nothing else
/// changes.
/// </summary>
public sealed class ImageGenerationService(
    GenerationRequestValidator validator,
    LoraCatalog loras,
    OutputStore outputs,
    IServiceProvider services,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <exception cref="RequestValidationException">The request breaks a rule; the messages say what to change.</exception>
    public async Task<GenerationOutcome> GenerateAsync(GenerationRequest request, GenerationOutput output,
        IProgress<GenerationProgress> progress, CancellationToken ct)
    {
        // Checked again when a queued job runs: a LoRA or a model folder may have gone since it was queued.
        validator.EnsureValid(request);
        var generator = ResolveGenerator(output.Device);
        var prepared = Prepare(request);
        var run = (await generator.GenerateAsync(prepared, progress, ct)).Run;
        ct.ThrowIfCancellationRequested();

        var record = GenerationRecord.Describe(prepared, run, _time.GetLocalNow());
        try
        {
            var png = OutputStore.EncodePng(record, run.Image);
            if (output.History)
                record = await outputs.SaveAsync(record, png, request.Metadata, ct);
            if (output.CopyTo is { } copy)
                await OutputStore.ExportAsync(record, png, copy, request.Metadata, ct);
        }
        catch (Exception e) when (EngineMemoryException.IsAllocationFailure(e))
        {
            throw new EngineMemoryException(MemoryShortfall.Unplanned(run.Width, run.Height, "saving the image", SizeMultiple(request)), e);
        }
        return new GenerationOutcome(record, output.History, output.CopyTo, GenerationRecord.Warnings(request, run));
    }

    /// <summary>Width and height of the request's model are multiples of this.</summary>
    public int SizeMultiple(GenerationRequest request) => validator.SizeRuleFor(request).Multiple;

    /// <summary>
    /// The request as the engine gets it: a seed picked for 0, the LoRAs' activation keywords put in the prompt, and
    /// LoRA names resolved to files in the LoRA folder (full paths stay as they are).
    /// </summary>
    private GenerationRequest Prepare(GenerationRequest request)
    {
        var catalog = loras.GetSnapshot();
        return request with
        {
            Seed = request.Seed != 0 ? request.Seed : (long)FluxGenerationOptions.RandomSeed(),
            Prompt = catalog.ComposePrompt(request.Prompt, request.Loras.Select(l => l.Name)),
            Loras = request.Loras.Select(l => l with { Name = Path.IsPathFullyQualified(l.Name) ? l.Name : loras.GetFullPath(l.Name) }).ToList(),
        };
    }

    private IImageGenerator ResolveGenerator(string device) =>
        (services as IKeyedServiceProvider)?.GetKeyedService<IImageGenerator>(device)
        ?? services.GetService<IImageGenerator>()
        ?? throw new InvalidOperationException(
            $"No image generator is installed for device \"{device}\". Check that the model engine is configured, then try again.");
}
