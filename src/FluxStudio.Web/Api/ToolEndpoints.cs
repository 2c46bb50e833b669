using FluxStudio.App.BackgroundRemoval;
using FluxStudio.App.Enhancement;
using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Api;

/// <summary>The prompt enhancer and the background remover.</summary>
public static class ToolEndpoints
{
    public static RouteGroupBuilder MapToolApi(this RouteGroupBuilder api)
    {
        api.MapPost("/enhance", (EnhanceApiRequest body, PromptEnhancer enhancer, CancellationToken ct) =>
                TypedResults.ServerSentEvents(EnhancementEvents.StreamAsync(enhancer, body, ct)))
            .WithTags("Prompt enhancer")
            .WithSummary("Enhance a prompt; server-sent token events, then done or error");
        api.MapPost("/remove-background", RemoveBackgroundAsync)
            .WithTags("Background remover")
            .WithSummary($"Send a PNG, JPEG or WebP image as the file field '{ImageUpload.FormField}' of a multipart/form-data " +
                         "body; receive the cut-out as a PNG")
            // No Accepts metadata: routing would refuse other content types with a bare 415, without saying what to send.
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        return api;
    }

    private static async Task<IResult> RemoveBackgroundAsync(HttpRequest request, IBackgroundRemover remover, IOptions<WebOptions> options,
        CancellationToken ct)
    {
        var max = options.Value.MaxUploadBytes;
        var (bytes, refusal) = await ImageUpload.ReadFormFileAsync(request, max, ct);
        if (refusal is not null)
            return refusal;
        if (ImageUpload.Check(bytes, max) is { } problem)
            return TypedResults.Problem(problem, title: "The image was not accepted",
                statusCode: bytes is null ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest);
        try
        {
            using var image = new MemoryStream(bytes!, writable: false);
            var result = await remover.RemoveAsync(image, ct);
            return TypedResults.File(result.Png, "image/png", "no-background.png");
        }
        catch (BackgroundRemovalException ex)
        {
            return TypedResults.Problem(ex.Message, title: "The background was not removed",
                statusCode: ex.IsCallerError ? StatusCodes.Status400BadRequest : StatusCodes.Status503ServiceUnavailable);
        }
    }
}
