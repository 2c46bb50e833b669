using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Engine.Models;

namespace FluxStudio.Web.Api;

/// <summary>A LoRA in a request: its file name in the LoRA folder and its scale (1 = full strength).</summary>
public sealed record LoraApiSelection(string? Name, double? Scale);

/// <summary>The body of <c>POST /api/generations</c>; every field but the prompt is optional.</summary>
public sealed record GenerationApiRequest
{
    public string? Prompt { get; init; }

    /// <summary>"schnell" (default) or "dev".</summary>
    public string? Model { get; init; }

    public int? Steps { get; init; }

    /// <summary>0 or absent: a random seed.</summary>
    public long Seed { get; init; }

    /// <summary>Used by dev only.</summary>
    public double? Guidance { get; init; }

    public int? Width { get; init; }
    public int? Height { get; init; }

    /// <summary>4, 8, or absent for full precision.</summary>
    public int? Quantize { get; init; }

    /// <summary>A local model folder to load instead of the named model.</summary>
    public string? Path { get; init; }

    public IReadOnlyList<LoraApiSelection>? Loras { get; init; }

    /// <summary>Write the JSON metadata sidecar next to the image.</summary>
    public bool Metadata { get; init; }

    /// <summary>The request, plus errors this shape can find before the validator (an unknown model name).</summary>
    public (GenerationRequest Request, Dictionary<string, string> Errors) ToRequest()
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var model = FluxVariant.Schnell;
        if (Model is not null && !FluxVariants.TryParse(Model, out model))
            errors[nameof(GenerationRequest.Model)] = $"The model \"{Model}\" is unknown; choose \"schnell\" or \"dev\".";
        var request = new GenerationRequest
        {
            Prompt = Prompt ?? "",
            Model = model,
            Steps = Steps,
            Seed = Seed,
            Guidance = Guidance,
            Width = Width ?? GenerationRequest.DefaultSize,
            Height = Height ?? GenerationRequest.DefaultSize,
            Quantize = Quantize,
            ModelPath = Path,
            Loras = (Loras ?? []).Select(l => new LoraSelection(l.Name ?? "", l.Scale ?? 1.0)).ToList(),
            Metadata = Metadata,
        };
        return (request, errors);
    }

    public static GenerationApiRequest From(GenerationRequest request) => new()
    {
        Prompt = request.Prompt,
        Model = request.Model.Alias(),
        Steps = request.Steps,
        Seed = request.Seed,
        Guidance = request.Guidance,
        Width = request.Width,
        Height = request.Height,
        Quantize = request.Quantize,
        Path = request.ModelPath,
        Loras = request.Loras.Select(l => new LoraApiSelection(l.Name, l.Scale)).ToList(),
        Metadata = request.Metadata,
    };
}

public sealed record GenerationCreated(long Id);

/// <summary>
/// A generation's state. While it waits or runs, <see cref="Steps"/> is what the request expects; once it is done,
/// <see cref="Steps"/> and <see cref="Seed"/> are what the engine ran, and <see cref="Warnings"/> what it changed or ignored.
/// </summary>
public sealed record GenerationStatus(
    long Id, string Status, int Step, int Steps, long? Seed, long? HistoryId, int? QueuePosition, string? Error,
    IReadOnlyList<string> Warnings);

/// <summary>One server-sent event of a generation: its kind is the event name.</summary>
public sealed record GenerationEvent(long Id, int? Step, int? Steps, long? HistoryId, string? Error, byte[]? Preview,
    IReadOnlyList<string> Warnings);

public sealed record HistoryItem(
    long Id, DateTimeOffset CreatedAt, string Prompt, string Model, long Seed, int Width, int Height, int Steps,
    double? Guidance, int? Quantize, string ImageUrl)
{
    public static HistoryItem From(HistoryEntry e) => new(
        e.Id, e.Timestamp, e.Prompt, e.ModelAlias, e.Seed, e.Width, e.Height, e.Steps, e.Guidance, e.Quantize, $"/api/images/{e.Id}");
}

public sealed record HistoryListing(int Page, int PageSize, bool HasMore, IReadOnlyList<HistoryItem> Items);

/// <summary>An entry with its readable details and the request that generates it again ("reuse these settings").</summary>
public sealed record HistoryItemDetails(HistoryItem Item, string Details, GenerationApiRequest Settings);

public sealed record LoraInfo(string Name, string Description, string Keyword, bool FileMissing);

public sealed record LoraListing(string Folder, IReadOnlyList<LoraInfo> Loras, string? Error, IReadOnlyList<string> Warnings);
