using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Api;

public static class GenerationEndpoints
{
    public static RouteGroupBuilder MapGenerationApi(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/generations").WithTags("Generations");
        group.MapPost("/", CreateAsync)
            .WithSummary("Queue a generation")
            .WithDescription("The settings as JSON; or, with pictures, multipart/form-data: the same JSON in the part 'request', a " +
                             "ControlNet reference picture in 'controlNetImage' and a picture to start from in 'image' (PNG, JPEG or " +
                             "WebP, each up to the upload limit). A batch (batchCount or seeds) is one job whose images each get a " +
                             "history entry.")
            .AddOpenApiOperationTransformer(GenerationApiBody.DescribeBody)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/{id:long}", GetAsync).WithSummary("The state of a generation");
        group.MapGet("/{id:long}/events", EventsAsync).WithSummary("Server-sent progress events of a generation");
        group.MapDelete("/{id:long}", CancelAsync).WithSummary("Cancel a generation");
        return group;
    }

    private static async Task<Results<Accepted<GenerationCreated>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        HttpRequest http, GenerationSubmitter submitter, InputPictures pictures, IOptions<WebOptions> web, IOptions<JsonOptions> json,
        CancellationToken ct)
    {
        var (body, bodyErrors, problem) = await GenerationApiBody.ReadAsync(http, pictures, web.Value.MaxUploadBytes, json.Value.SerializerOptions, ct);
        if (problem is not null)
            return problem;
        if (body is null || bodyErrors.Count > 0)
            return TypedResults.ValidationProblem(bodyErrors.ToDictionary(e => e.Key, e => new[] { e.Value }),
                title: "The generation settings are not valid");
        var (request, shapeErrors) = body.Request.ToRequest(body.ControlNetImagePath, body.InitImagePath);
        var result = await submitter.SubmitAsync(request, shapeErrors, ct);
        if (result.Job is { } job)
            return TypedResults.Accepted($"/api/generations/{job.Id}", new GenerationCreated(job.Id));
        if (result.Refusal is { } refusal)
            return TypedResults.Problem(refusal, statusCode: StatusCodes.Status429TooManyRequests, title: "The queue is full");
        return TypedResults.ValidationProblem(ProblemFields.ToJsonNames(result.Errors),
            title: "The generation settings are not valid");
    }

    private static async Task<Results<Ok<GenerationStatus>, ProblemHttpResult>> GetAsync(
        long id, GenerationQueue queue, HistoryStore history, GenerationProgressTracker tracker, CancellationToken ct)
    {
        var job = await queue.GetAsync(id, ct);
        if (job is null)
            return NoSuchJob(id);
        return TypedResults.Ok(await DescribeAsync(job, queue, history, tracker, ct));
    }

    internal static async Task<GenerationStatus> DescribeAsync(GenerationJob job, GenerationQueue queue, HistoryStore history,
        GenerationProgressTracker tracker, CancellationToken ct)
    {
        // Until the engine reports, the request's expectation; once done, what the engine ran as history recorded it.
        var progress = tracker.Get(job.Id);
        var steps = progress?.TotalSteps ?? job.Request.ExpectedSteps;
        long? seed = job.Request.Seed != 0 ? job.Request.Seed : null;
        if (job.ImageId is { } imageId && await history.GetAsync(imageId, ct) is { } entry)
            (seed, steps) = (entry.Seed, entry.Steps);
        var step = job.Status == JobStatus.Done ? steps : progress?.Step ?? 0;
        var images = job.Request.ImageCount;
        int? position = job.Status is JobStatus.Queued or JobStatus.Running ? await queue.GetPositionAsync(job.Id, ct) : null;
        return new GenerationStatus(job.Id, job.Status.ToString().ToLowerInvariant(), step, steps, seed, job.ImageId, position, job.Error,
            job.Warnings)
        {
            HistoryIds = job.ImageIds,
            Image = job.Status == JobStatus.Done ? images : progress?.Image ?? Math.Min(job.ImageIds.Count + 1, images),
            Images = images,
        };
    }

    private static async Task<IResult> EventsAsync(long id, GenerationQueue queue, GenerationEvents queueEvents, HttpContext context,
        CancellationToken ct)
    {
        // Subscribe before reading the job, so an event between the two is not missed.
        var subscription = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var events = queueEvents.SubscribeAsync(subscription.Token);
        var job = await queue.GetAsync(id, ct);
        if (job is null)
        {
            await subscription.CancelAsync();
            subscription.Dispose();
            return NoSuchJob(id);
        }
        context.Response.RegisterForDispose(subscription);
        return TypedResults.ServerSentEvents(StreamAsync(job, events, subscription.Token));
    }

    private static async IAsyncEnumerable<SseItem<GenerationEvent>> StreamAsync(GenerationJob job, IAsyncEnumerable<QueueEvent> events,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var steps = job.Request.ExpectedSteps;
        yield return new SseItem<GenerationEvent>(new GenerationEvent(job.Id, null, steps, job.ImageId, job.Error, null, job.Warnings)
            {
                HistoryIds = job.ImageIds, Images = job.Request.ImageCount,
            },
            job.Status.ToString().ToLowerInvariant());
        if (job.IsFinished)
            yield break;
        await foreach (var e in events.WithCancellation(ct))
        {
            if (e.JobId != job.Id)
                continue;
            var kind = e.Kind.ToString().ToLowerInvariant();
            yield return new SseItem<GenerationEvent>(
                new GenerationEvent(job.Id, e.Step, e.TotalSteps ?? steps, e.ImageId, e.Error, e.PreviewPng, e.Warnings,
                    e.Stage is { } stage ? JsonNamingPolicy.CamelCase.ConvertName(stage.ToString()) : null)
                {
                    HistoryIds = e.ImageIds, Image = e.Image, Images = e.Images,
                }, kind);
            if (e.EndsRun)
                yield break;
        }
    }

    private static async Task<Results<Accepted<GenerationStatus>, ProblemHttpResult>> CancelAsync(
        long id, GenerationQueue queue, HistoryStore history, GenerationProgressTracker tracker, CancellationToken ct)
    {
        var result = await queue.CancelAsync(id, ct);
        var job = await queue.GetAsync(id, ct);
        if (job is null)
            return NoSuchJob(id);
        if (!result.Cancelled)
            return TypedResults.Problem(result.Message, statusCode: StatusCodes.Status409Conflict, title: "The generation cannot be cancelled");
        return TypedResults.Accepted($"/api/generations/{id}", await DescribeAsync(job, queue, history, tracker, ct));
    }

    private static ProblemHttpResult NoSuchJob(long id) =>
        TypedResults.Problem($"There is no generation {id}; check the id returned by POST /api/generations.",
            statusCode: StatusCodes.Status404NotFound, title: "Generation not found");
}
