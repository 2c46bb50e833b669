using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.Web.Api;

/// <summary>A LoRA in a request: its file name in the LoRA folder and its scale (1 = full strength).</summary>
public sealed record LoraApiSelection(string? Name, double? Scale);

/// <summary>
/// The body of <c>POST /api/generations</c> (or its <c>request</c> part, when the pictures come with it as
/// multipart/form-data); every field but the prompt is optional.
/// </summary>
public sealed record GenerationApiRequest
{
    public string? Prompt { get; init; }

    /// <summary>"schnell" (default) or "dev".</summary>
    public string? Model { get; init; }

    public int? Steps { get; init; }

    /// <summary>0 or absent: a random seed. The first image's seed of a batch; the others count up from it.</summary>
    public long Seed { get; init; }

    /// <summary>How many images to make, one history entry each (default 1).</summary>
    public int? BatchCount { get; init; }

    /// <summary>Seeds given one by one, one image each, instead of <see cref="Seed"/> and <see cref="BatchCount"/>.</summary>
    public IReadOnlyList<long>? Seeds { get; init; }

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

    /// <summary>With a <c>controlNetImage</c> part: how strongly its edges guide the image, 0 to 1 (default 0.4).</summary>
    public double? ControlNetStrength { get; init; }

    /// <summary>"mflux" (default, the original app's) or "diffusers": how the edge map is encoded for the ControlNet.</summary>
    public string? ControlNetEncoding { get; init; }

    /// <summary>Recorded with the image, as the original app's "save Canny edges"; history keeps the edge map either way.</summary>
    public bool ControlNetSaveCanny { get; init; }

    /// <summary>With an <c>image</c> part: how much of the picture to keep, 0 to 1 (default 0.4; A1111's denoising strength is 1 − this).</summary>
    public double? ImageStrength { get; init; }

    /// <summary>
    /// The request, with the pictures the server has kept for it, plus errors this shape can find before the validator
    /// (an unknown model or encoding name).
    /// </summary>
    public (GenerationRequest Request, Dictionary<string, string> Errors) ToRequest(string? controlNetImagePath = null, string? initImagePath = null)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var model = FluxVariant.Schnell;
        if (Model is not null && !FluxVariants.TryParse(Model, out model))
            errors[nameof(GenerationRequest.Model)] = $"The model \"{Model}\" is unknown; choose \"schnell\" or \"dev\".";
        var encoding = Engine.ControlNet.ControlNetEncoding.Mflux;
        if (ControlNetEncoding is not null && !ControlNetEncodings.TryParse(ControlNetEncoding, out encoding))
            errors[nameof(GenerationRequest.ControlNetEncoding)] =
                $"The ControlNet encoding \"{ControlNetEncoding}\" is unknown; choose \"mflux\" or \"diffusers\".";
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
            BatchCount = BatchCount ?? 1,
            Seeds = Seeds ?? [],
            ControlNetImagePath = controlNetImagePath,
            ControlNetStrength = ControlNetStrength ?? GenerationRequest.DefaultControlNetStrength,
            ControlNetEncoding = encoding,
            ControlNetSaveCanny = ControlNetSaveCanny,
            InitImagePath = initImagePath,
            ImageStrength = ImageStrength ?? GenerationRequest.DefaultImageStrength,
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
        BatchCount = request.BatchCount,
        Seeds = request.Seeds.Count > 0 ? request.Seeds : null,
        ControlNetStrength = request.UsesControlNet ? request.ControlNetStrength : null,
        ControlNetEncoding = request.UsesControlNet ? request.ControlNetEncoding.Name() : null,
        ControlNetSaveCanny = request.ControlNetSaveCanny,
        ImageStrength = request.UsesInitImage ? request.ImageStrength : null,
    };
}

public sealed record GenerationCreated(long Id);

/// <summary>
/// A generation's state. While it waits or runs, <see cref="Steps"/> is what the request expects and <see cref="Image"/>
/// which of its <see cref="Images"/> is being made; once it is done, <see cref="Steps"/> and <see cref="Seed"/> are what
/// the engine ran for its first image, <see cref="HistoryIds"/> every image it made (a batch's, in order), and
/// <see cref="Warnings"/> what the engine changed or ignored.
/// </summary>
public sealed record GenerationStatus(
    long Id, string Status, int Step, int Steps, long? Seed, long? HistoryId, int? QueuePosition, string? Error,
    IReadOnlyList<string> Warnings)
{
    public IReadOnlyList<long> HistoryIds { get; init; } = [];
    public int Image { get; init; } = 1;
    public int Images { get; init; } = 1;
}

/// <summary>
/// One server-sent event of a generation: its kind is the event name (<c>imagesaved</c> for each image of a batch as it
/// is saved, with its <see cref="HistoryId"/>). Progress events name the engine's stage (<c>loadingModel</c>,
/// <c>encodingPrompt</c>, <c>denoising</c>, <c>decoding</c>); denoising steps carry a preview.
/// </summary>
public sealed record GenerationEvent(long Id, int? Step, int? Steps, long? HistoryId, string? Error, byte[]? Preview,
    IReadOnlyList<string> Warnings, string? Stage = null)
{
    public IReadOnlyList<long> HistoryIds { get; init; } = [];
    public int? Image { get; init; }
    public int? Images { get; init; }
}

/// <param name="ControlNetCannyUrl">The edge map a ControlNet was guided by, when one was.</param>
/// <param name="BatchId">Shared by the images of one request that made several.</param>
public sealed record HistoryItem(
    long Id, DateTimeOffset CreatedAt, string Prompt, string Model, long Seed, int Width, int Height, int Steps,
    double? Guidance, int? Quantize, string ImageUrl, string? ControlNetCannyUrl, string? BatchId)
{
    public static HistoryItem From(HistoryEntry e) => new(
        e.Id, e.Timestamp, e.Prompt, e.ModelAlias, e.Seed, e.Width, e.Height, e.Steps, e.Guidance, e.Quantize, $"/api/images/{e.Id}",
        e.ControlNetCannyPath is null ? null : $"/api/images/{e.Id}/controlnet-canny", e.BatchId);
}

public sealed record HistoryListing(int Page, int PageSize, bool HasMore, IReadOnlyList<HistoryItem> Items);

/// <summary>An entry with its readable details and the request that generates it again ("reuse these settings").</summary>
public sealed record HistoryItemDetails(HistoryItem Item, string Details, GenerationApiRequest Settings);

public sealed record LoraInfo(string Name, string Description, string Keyword, bool FileMissing);

public sealed record LoraListing(string Folder, IReadOnlyList<LoraInfo> Loras, string? Error, IReadOnlyList<string> Warnings);
