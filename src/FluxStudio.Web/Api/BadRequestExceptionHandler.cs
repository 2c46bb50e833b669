using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace FluxStudio.Web.Api;

/// <summary>
/// A body that is not valid JSON, or a value of the wrong type, becomes a 400 problem that says where the body is
/// wrong, instead of a 500.
/// </summary>
public sealed class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
            return false;
        var detail = bad.InnerException is JsonException json
            ? $"The request body is not valid JSON for this endpoint ({json.Message}). Check the value at that path."
            : bad.Message;
        context.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = bad.StatusCode, Title = "The request could not be read", Detail = detail },
        });
    }
}
