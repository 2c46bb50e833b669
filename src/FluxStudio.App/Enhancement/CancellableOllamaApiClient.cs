using OllamaSharp;
using OllamaSharp.Models;

namespace FluxStudio.App.Enhancement;

/// <summary>
/// OllamaSharp's client, except that cancelling a streamed chat also stops a read that is waiting for the next line:
/// OllamaSharp reads the body without the token, and HttpClient honours it only until the headers have arrived.
/// </summary>
internal sealed class CancellableOllamaApiClient(HttpClient http, string model = "") : OllamaApiClient(http, model)
{
    protected override async Task<HttpResponseMessage> SendToOllamaAsync(
        HttpRequestMessage requestMessage, OllamaRequest? ollamaRequest, HttpCompletionOption completionOption, CancellationToken cancellationToken)
    {
        var response = await base.SendToOllamaAsync(requestMessage, ollamaRequest, completionOption, cancellationToken).ConfigureAwait(false);
        if (completionOption == HttpCompletionOption.ResponseHeadersRead && cancellationToken.CanBeCanceled)
            await TokenBoundReadStream.BindAsync(response, cancellationToken).ConfigureAwait(false);
        return response;
    }
}
