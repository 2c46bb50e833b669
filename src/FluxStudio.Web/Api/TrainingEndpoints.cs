using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using FluxStudio.App.Training;
using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;

namespace FluxStudio.Web.Api;

/// <summary>
/// LoRA training: start a run from the original app's train.json and its images, follow it, cancel it, continue it
/// from its last checkpoint, and download what it wrote (checkpoint zips, the loss plot as PDF or PNG, validation
/// images, the LoRA).
/// </summary>
public static class TrainingEndpoints
{
    public const string ConfigField = "config";
    public const string ImagesField = "images";
    public const string ModelPathField = "modelPath";

    /// <summary>Training images one run may upload (the original app trains on a handful to a few dozen).</summary>
    public const int MaxImages = 200;

    public static RouteGroupBuilder MapTrainingApi(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/trainings").WithTags("Training");
        group.MapPost("/", StartAsync)
            .WithSummary("Start a LoRA training run")
            .WithDescription($"multipart/form-data: the original app's train.json in the field '{ConfigField}' (its examples.images list " +
                             $"each picture's file name and caption), the pictures in '{ImagesField}' under those file names (PNG, JPEG " +
                             $"or WebP, each up to the upload limit, at most {MaxImages}), and optionally a model folder in " +
                             $"'{ModelPathField}'. Problems with the configuration come back keyed by its JSON keys.")
            .AddOpenApiOperationTransformer(DescribeBody)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/", ListAsync).WithSummary("Every training run, newest first");
        group.MapGet("/{id}", GetAsync).WithSummary("The state of a training run: step, losses, time left, what it wrote");
        group.MapGet("/{id}/events", EventsAsync).WithSummary("Server-sent events of a training run: state, then each change until it ends");
        group.MapDelete("/{id}", CancelAsync).WithSummary("Cancel a queued or running training run");
        group.MapPost("/{id}/resume", ResumeAsync).WithSummary("Continue a cancelled or failed run from its last checkpoint");
        group.MapGet("/{id}/files/{kind}/{name}", FileAsync)
            .WithSummary("Download a file a run wrote: kind checkpoints, plots, validation or lora, name as the run's state lists it");
        return group;
    }

    private static async Task<Results<Accepted<TrainingRunState>, ValidationProblem, ProblemHttpResult>> StartAsync(HttpRequest http,
        TrainingJobs jobs, ModelPathPolicy pathPolicy, IOptions<WebOptions> web, CancellationToken ct)
    {
        var max = web.Value.MaxUploadBytes;
        if (!MediaTypeHeaderValue.TryParse(http.ContentType, out var type) ||
            !string.Equals(type.MediaType.Value, "multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return TypedResults.Problem(
                $"Send multipart/form-data: train.json in the field '{ConfigField}', the pictures in '{ImagesField}' " +
                $"(for example: curl -F {ConfigField}=<train.json -F {ImagesField}=@dog1.png URL).",
                title: "The training was not accepted", statusCode: StatusCodes.Status415UnsupportedMediaType);
        // Several pictures, each up to the upload limit.
        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = ImageUpload.RequestBodyLimit(max) * MaxImages;
        IFormCollection form;
        try
        {
            form = await http.ReadFormAsync(ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            return TypedResults.Problem(ImageUpload.TooLarge(max), title: "The training was not accepted", statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        var errors = new Dictionary<string, string[]>();
        var config = form[ConfigField].ToString();
        if (string.IsNullOrWhiteSpace(config))
            errors[ConfigField] = [$"Send the training configuration (the original app's train.json) in the field '{ConfigField}'."];
        var files = form.Files.GetFiles(ImagesField);
        if (files.Count > MaxImages)
            errors[ImagesField] = [$"{files.Count} pictures were sent; one run takes at most {MaxImages}."];
        var images = new List<(string Name, byte[] Bytes)>();
        foreach (var file in files.Take(MaxImages))
        {
            var name = Path.GetFileName(file.FileName);
            await using var stream = file.OpenReadStream();
            var bytes = await ImageUpload.ReadLimitedAsync(stream, max, ct);
            if (ImageUpload.Check(bytes, max) is { } problem)
                errors[$"{ImagesField}[{name}]"] = [$"{name}: {problem}"];
            else if (file.FileName.IndexOfAny(['/', '\\']) >= 0 || name.Length == 0 || name.StartsWith('.'))
                errors[$"{ImagesField}[{name}]"] = [$"\"{file.FileName}\" is not a plain file name; send each picture under its name in examples.images."];
            else if (images.Any(image => image.Name == name))
                errors[$"{ImagesField}[{name}]"] = [$"{name} was sent twice."];
            else
                images.Add((name, bytes!));
        }
        var modelPath = form[ModelPathField].ToString() is { Length: > 0 } path ? path.Trim() : null;
        if (pathPolicy.Check(modelPath) is { } pathError)
            errors[ModelPathField] = [pathError];
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors, title: "The training settings are not valid");

        try
        {
            var run = await jobs.StartAsync(config, images, modelPath, ct);
            return TypedResults.Accepted($"/api/trainings/{run.Id}", Describe(run, jobs));
        }
        catch (TrainingConfigException e)
        {
            return TypedResults.ValidationProblem(
                e.Problems.GroupBy(p => p.Key.Length == 0 ? ConfigField : p.Key).ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray()),
                title: "The training settings are not valid");
        }
    }

    private static Task DescribeBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["multipart/form-data"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { ConfigField, ImagesField },
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            [ConfigField] = new OpenApiSchema
                            {
                                Type = JsonSchemaType.String,
                                Description = "The original app's train.json (model, seed, steps, guidance, quantize, width, height, training_loop, " +
                                              "optimizer, save, instrumentation, lora_layers, examples).",
                            },
                            [ImagesField] = new OpenApiSchema
                            {
                                Type = JsonSchemaType.Array,
                                Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                                Description = "The training pictures (PNG, JPEG or WebP), each under the file name examples.images gives it.",
                            },
                            [ModelPathField] = new OpenApiSchema
                            {
                                Type = JsonSchemaType.String, Description = "A model folder to train on instead of the published model.",
                            },
                        },
                    },
                    Encoding = new Dictionary<string, OpenApiEncoding> { [ConfigField] = new() { ContentType = "application/json" } },
                },
            },
        };
        return Task.CompletedTask;
    }

    private static async Task<Ok<List<TrainingRunState>>> ListAsync(TrainingJobs jobs, CancellationToken ct) =>
        TypedResults.Ok((await jobs.ListAsync(ct)).Select(run => Describe(run, jobs, withLosses: false)).ToList());

    private static async Task<Results<Ok<TrainingRunState>, ProblemHttpResult>> GetAsync(string id, TrainingJobs jobs, CancellationToken ct) =>
        await jobs.GetAsync(id, ct) is { } run ? TypedResults.Ok(Describe(run, jobs)) : NoSuchRun(id);

    private static async Task<Results<Accepted<TrainingRunState>, ProblemHttpResult>> CancelAsync(string id, TrainingJobs jobs, CancellationToken ct)
    {
        if (await jobs.GetAsync(id, ct) is null)
            return NoSuchRun(id);
        if (!await jobs.CancelAsync(id, ct))
            return TypedResults.Problem($"Training run {id} has already ended.", statusCode: StatusCodes.Status409Conflict,
                title: "The training cannot be cancelled");
        return TypedResults.Accepted($"/api/trainings/{id}", Describe((await jobs.GetAsync(id, ct))!, jobs));
    }

    private static async Task<Results<Accepted<TrainingRunState>, ProblemHttpResult>> ResumeAsync(string id, TrainingJobs jobs, CancellationToken ct)
    {
        if (await jobs.GetAsync(id, ct) is null)
            return NoSuchRun(id);
        try
        {
            var run = await jobs.ResumeAsync(id, ct);
            return TypedResults.Accepted($"/api/trainings/{id}", Describe(run, jobs));
        }
        catch (InvalidOperationException e)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status409Conflict, title: "The training cannot be continued");
        }
    }

    private static async Task<IResult> EventsAsync(string id, TrainingJobs jobs, CancellationToken ct)
    {
        // Listen before reading the run, so a change between the two is not missed.
        var changes = Channel.CreateUnbounded<TrainingRunChanged>();
        void OnChanged(TrainingRunChanged change)
        {
            if (change.Run.Id == id) changes.Writer.TryWrite(change);
        }
        jobs.Changed += OnChanged;
        var run = await jobs.GetAsync(id, ct);
        if (run is null)
        {
            jobs.Changed -= OnChanged;
            return NoSuchRun(id);
        }
        return TypedResults.ServerSentEvents(StreamAsync(run, jobs, changes.Reader, () => jobs.Changed -= OnChanged, ct));
    }

    private static async IAsyncEnumerable<SseItem<TrainingRunState>> StreamAsync(TrainingRun run, TrainingJobs jobs,
        ChannelReader<TrainingRunChanged> changes, Action unsubscribe, [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            yield return new SseItem<TrainingRunState>(Describe(run, jobs), "state");
            if (run.IsFinished)
                yield break;
            await foreach (var change in changes.ReadAllAsync(ct))
            {
                var state = Describe(change.Run, jobs, withLosses: false) with
                {
                    Loss = change.Progress?.Loss,
                    Written = change.Progress?.WrittenFile is { } file ? Path.GetFileName(file) : null,
                };
                yield return new SseItem<TrainingRunState>(state, change.Progress is null ? "state" : "progress");
                if (change.Run.IsFinished)
                    yield break;
            }
        }
        finally
        {
            unsubscribe();
        }
    }

    private static async Task<IResult> FileAsync(string id, string kind, string name, TrainingJobs jobs, CancellationToken ct)
    {
        if (await jobs.GetAsync(id, ct) is null)
            return NoSuchRun(id);
        // Only files the run's folder lists by kind are served: a name is looked up, never joined to a path.
        var path = jobs.Store.Output(id).Files().FirstOrDefault(file => file.Kind == kind && file.Name == name)?.Path;
        if (path is null || !File.Exists(path))
            return TypedResults.Problem($"Training run {id} has no {kind} file \"{name}\"; see the files its state lists.",
                statusCode: StatusCodes.Status404NotFound, title: "File not found");
        var contentType = Path.GetExtension(path) switch
        {
            ".zip" => "application/zip",
            ".pdf" => "application/pdf",
            ".png" => "image/png",
            _ => "application/octet-stream",
        };
        return TypedResults.PhysicalFile(path, contentType, name);
    }

    private static TrainingRunState Describe(TrainingRun run, TrainingJobs jobs, bool withLosses = true)
    {
        var live = jobs.Live(run.Id);
        var output = jobs.Store.Output(run.Id);
        var progress = run.Status == TrainingRunStatus.Running ? live.Latest : null;
        var artifacts = output.Files().Select(file => new TrainingFile(file.Kind, file.Name, FileUrl(run.Id, file))).ToList();
        return new TrainingRunState(run.Id, run.Status.ToString().ToLowerInvariant(), progress?.Stage.ToString() ?? run.Status.ToString(),
            Math.Max(run.Step, progress?.Step ?? 0), run.TotalSteps, run.LastLoss, progress?.Remaining?.TotalSeconds, run.Error, run.Warnings,
            run.LoraName, run.ActivationKeyword, run.CreatedAt, run.FinishedAt, run.Attempts)
        {
            Losses = withLosses ? [.. live.Losses.Select(l => new TrainingLoss(l.Step, l.Loss))] : null,
            ValidationImageUrl = artifacts.LastOrDefault(a => a.Kind == OutputFile.Validation)?.Url,
            Files = artifacts,
        };
    }

    /// <summary>Where the API serves a file of a run.</summary>
    public static string FileUrl(string runId, OutputFile file) =>
        $"/api/trainings/{Uri.EscapeDataString(runId)}/files/{file.Kind}/{Uri.EscapeDataString(file.Name)}";

    private static ProblemHttpResult NoSuchRun(string id) =>
        TypedResults.Problem($"There is no training run \"{id}\"; check the id returned by POST /api/trainings.",
            statusCode: StatusCodes.Status404NotFound, title: "Training run not found");
}

/// <summary>A training run as the API describes it.</summary>
/// <param name="Stage">What it is doing: LoadingModel, EncodingImages, Training, ValidationImage, Saving while it runs, else its status.</param>
/// <param name="SecondsLeft">The estimated time to the end, while it trains.</param>
public sealed record TrainingRunState(string Id, string Status, string Stage, int Step, int TotalSteps, double? LastLoss, double? SecondsLeft,
    string? Error, IReadOnlyList<string> Warnings, string? LoraName, string? ActivationKeyword, DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt, int Attempts)
{
    /// <summary>Every step's loss so far (null in lists and events).</summary>
    public IReadOnlyList<TrainingLoss>? Losses { get; init; }

    public string? ValidationImageUrl { get; init; }

    public IReadOnlyList<TrainingFile> Files { get; init; } = [];

    /// <summary>In a progress event: the loss of the step just made.</summary>
    public double? Loss { get; init; }

    /// <summary>In a progress event: the name of the file just written.</summary>
    public string? Written { get; init; }
}

public sealed record TrainingLoss(int Step, double Loss);

/// <param name="Kind">checkpoints, plots, validation or lora.</param>
public sealed record TrainingFile(string Kind, string Name, string Url);
