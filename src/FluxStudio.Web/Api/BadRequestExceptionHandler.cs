using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace FluxStudio.Web.Api;

/// <summary>
/// A body that is not valid JSON, or holds a value of the wrong type, becomes a 400 validation problem naming the field
/// (as the JSON path gives it, <c>loras[1].scale</c>), in every environment. Other unreadable requests keep their
/// status with the reason (one over the upload limit: see <see cref="TooLargeProblem"/>).
/// </summary>
public sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
            return false;
        ProblemDetails details = bad switch
        {
            { InnerException: JsonException json } => new HttpValidationProblemDetails(new Dictionary<string, string[]>
            {
                [FieldOf(json)] = [Describe(json)],
            })
            {
                Title = "The request body is not valid JSON for this endpoint",
            },
            { StatusCode: StatusCodes.Status413PayloadTooLarge } => new ProblemDetails(),
            _ => new ProblemDetails { Title = "The request could not be read", Detail = bad.Message },
        };
        details.Status = bad.StatusCode;
        context.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, Exception = exception, ProblemDetails = details });
    }

    /// <summary><c>$.loras[1].scale</c> → <c>loras[1].scale</c>; the body itself (<c>$</c>, or no path) → <c>body</c>.</summary>
    private static string FieldOf(JsonException json) =>
        json.Path is { Length: > 1 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : "body";

    /// <summary>What is wrong with the value, in the API's terms rather than .NET type names.</summary>
    private static string Describe(JsonException json)
    {
        var converted = ConvertedTo().Match(json.Message);
        if (!converted.Success)
        {
            // System.Text.Json appends " Path: $.x | LineNumber: 0 | BytePositionInLine: 7." to its messages; the field says where.
            var at = json.Message.IndexOf(" Path: ", StringComparison.Ordinal);
            return $"The JSON is malformed here: {(at < 0 ? json.Message : json.Message[..at])}";
        }
        // A record read through its constructor names itself, not the field's type; then only the field is known.
        var expected = converted.Groups["type"].Value switch
        {
            "Int32" or "Int64" or "UInt64" => "a whole number",
            "Double" or "Single" or "Decimal" => "a number",
            "Boolean" => "true or false",
            "String" => "a string",
            var other when other.StartsWith("List", StringComparison.Ordinal) || other.EndsWith("[]", StringComparison.Ordinal) => "a list",
            _ => null,
        };
        return expected is null ? "This value is of the wrong type for this field." : $"This value is of the wrong type: {expected} is expected here.";
    }

    // "The JSON value could not be converted to System.Nullable`1[System.Int32]." → Int32.
    [GeneratedRegex(@"could not be converted to (?:System\.Nullable`1\[)?(?:[\w.]+\.)?(?<type>[\w`]+(?:\[\])?)")]
    private static partial Regex ConvertedTo();
}
