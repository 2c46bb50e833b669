using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web.Api;

/// <summary>
/// Every 413 problem, whether the server's request limit stopped the body or an endpoint did, says what the limit is
/// and which setting raises it.
/// </summary>
public static class TooLargeProblem
{
    public static void Describe(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status != StatusCodes.Status413PayloadTooLarge || context.ProblemDetails.Detail is not null)
            return;
        var options = context.HttpContext.RequestServices.GetRequiredService<IOptions<WebOptions>>().Value;
        context.ProblemDetails.Title = "The request is too large";
        context.ProblemDetails.Detail = ImageUpload.TooLarge(options.MaxUploadBytes);
    }
}
