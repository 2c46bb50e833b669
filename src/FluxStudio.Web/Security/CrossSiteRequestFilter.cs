using Microsoft.Net.Http.Headers;

namespace FluxStudio.Web.Security;

/// <summary>
/// Refuses API requests that change something (any method but GET, HEAD, OPTIONS) when a browser says they come from
/// a page of another origin. Browsers send such a page's form posts (<c>multipart/form-data</c>,
/// <c>text/plain</c>…) without asking the server first, so without this any web site could make a loopback studio
/// work for it. Clients that are not browsers send neither header and are not affected.
/// </summary>
public sealed class CrossSiteRequestFilter(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) ||
            HttpMethods.IsOptions(context.Request.Method) || !IsCrossOrigin(context.Request))
        {
            await next(context);
            return;
        }
        await Results.Problem(
            title: "Request from another web site",
            detail: "FluxStudio refuses API requests that a page of another web site sends through your browser; use the " +
                    "studio's own pages, or call the API from a program.",
            statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(context);
    }

    private static bool IsCrossOrigin(HttpRequest request)
    {
        // Sec-Fetch-Site is set by the browser itself, and a page cannot forge it.
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0)
            return site is not ("same-origin" or "none");
        // Older browsers: compare the page's origin with the address the request was sent to.
        var origin = request.Headers[HeaderNames.Origin].ToString();
        if (origin.Length == 0)
            return false;
        return !Uri.TryCreate(origin, UriKind.Absolute, out var uri) ||
               !string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase) ||
               !string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase);
    }
}
