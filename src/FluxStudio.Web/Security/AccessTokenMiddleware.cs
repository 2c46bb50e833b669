using System.Security.Cryptography;
using System.Text;

namespace FluxStudio.Web.Security;

/// <summary>
/// Requires the access token on every request when the server listens beyond loopback. Browsers pass it once as
/// <c>?access_token=</c> and then carry it in an HTTP-only cookie; API clients send <c>Authorization: Bearer</c>.
/// </summary>
public sealed class AccessTokenMiddleware(RequestDelegate next, string token)
{
    public const string CookieName = "fluxstudio_token";
    private readonly byte[] _token = Encoding.UTF8.GetBytes(token);

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Query.TryGetValue("access_token", out var fromQuery) && Matches(fromQuery.ToString()))
        {
            context.Response.Cookies.Append(CookieName, fromQuery.ToString(),
                new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps });
            await next(context);
            return;
        }
        var header = context.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : context.Request.Cookies[CookieName];
        if (presented is not null && Matches(presented))
        {
            await next(context);
            return;
        }
        await Results.Problem(
            title: "Access token required",
            detail: "This server is reachable from the network and needs its access token: send 'Authorization: Bearer <token>', " +
                    "or open the page once with ?access_token=<token>.",
            statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(context);
    }

    private bool Matches(string candidate) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(candidate), _token);
}
