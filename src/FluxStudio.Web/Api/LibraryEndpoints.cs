using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FluxStudio.Web.Api;

/// <summary>History, images and the LoRA catalog.</summary>
public static class LibraryEndpoints
{
    public static RouteGroupBuilder MapLibraryApi(this RouteGroupBuilder api)
    {
        var history = api.MapGroup("/history").WithTags("History");
        history.MapGet("/", ListAsync).WithSummary("History, newest first, with paging and search");
        history.MapGet("/{id:long}", GetAsync).WithSummary("One history entry with its details and settings");
        history.MapDelete("/{id:long}", DeleteAsync).WithSummary("Delete an image and its history entry");
        api.MapGet("/images/{historyId:long}", ImageAsync).WithTags("History").WithSummary("The PNG of a history entry");
        api.MapGet("/images/{historyId:long}/controlnet-canny", ControlNetCannyAsync).WithTags("History")
            .WithSummary("The Canny edge map a ControlNet guided a history entry's image by");
        api.MapGet("/loras", Loras).WithTags("LoRAs").WithSummary("The LoRA catalog");
        return api;
    }

    private static async Task<Results<Ok<HistoryListing>, ValidationProblem>> ListAsync(
        HistoryStore store, CancellationToken ct, int page = 1, int pageSize = 20, string? q = null)
    {
        var errors = new Dictionary<string, string[]>();
        if (page < 1)
            errors["page"] = ["The page must be 1 or more."];
        if (pageSize is < 1 or > HistoryPaging.MaxPageSize)
            errors["pageSize"] = [$"The page size must be between 1 and {HistoryPaging.MaxPageSize}."];
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors, title: "The paging parameters are not valid");
        var (entries, hasMore) = await HistoryPaging.GetPageAsync(store, page, pageSize, q, ct);
        return TypedResults.Ok(new HistoryListing(page, pageSize, hasMore, entries.Select(HistoryItem.From).ToList()));
    }

    private static async Task<Results<Ok<HistoryItemDetails>, ProblemHttpResult>> GetAsync(long id, HistoryStore store, CancellationToken ct)
    {
        if (await store.GetAsync(id, ct) is not { } entry)
            return NoSuchEntry(id);
        return TypedResults.Ok(new HistoryItemDetails(HistoryItem.From(entry), HistoryDetails.Format(entry),
            GenerationApiRequest.From(HistoryStore.ToRequest(entry))));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(long id, HistoryStore store, CancellationToken ct)
    {
        if (await store.GetAsync(id, ct) is null)
            return NoSuchEntry(id);
        var result = await store.DeleteAsync(id, ct);
        return result.Deleted
            ? TypedResults.NoContent()
            : TypedResults.Problem(result.Message, statusCode: StatusCodes.Status409Conflict, title: "The image was not deleted");
    }

    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> ImageAsync(long historyId, HistoryStore store, CancellationToken ct)
    {
        // The file comes from the history row only, and only from inside the output folder; no part of the URL is a path.
        if (await store.OpenImageAsync(historyId, ct) is not { } image)
            return NoSuchEntry(historyId);
        return TypedResults.Stream(image, "image/png");
    }

    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> ControlNetCannyAsync(long historyId, HistoryStore store,
        CancellationToken ct)
    {
        if (await store.OpenControlNetCannyAsync(historyId, ct) is not { } edges)
            return TypedResults.Problem($"There is no edge map for image {historyId}: no ControlNet guided it, or it was deleted.",
                statusCode: StatusCodes.Status404NotFound, title: "Edge map not found");
        return TypedResults.Stream(edges, "image/png");
    }

    private static Ok<LoraListing> Loras(LoraCatalog catalog)
    {
        var snapshot = catalog.GetSnapshot();
        return TypedResults.Ok(new LoraListing(snapshot.Folder,
            snapshot.Entries.Select(e => new LoraInfo(e.FileName, e.Description, e.ActivationKeyword, e.FileMissing)).ToList(),
            snapshot.Error, snapshot.Warnings));
    }

    private static ProblemHttpResult NoSuchEntry(long id) =>
        TypedResults.Problem($"There is no image {id} in history; it may have been deleted.",
            statusCode: StatusCodes.Status404NotFound, title: "Image not found");
}
