using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace FluxStudio.App.Enhancement;

/// <summary>
/// The enhancement as server-sent events, for <c>POST /api/enhance</c>:
/// <c>token</c> events carry the next piece of text, then one <c>done</c> event, or one <c>error</c> event whose
/// data is the message for the user. Map it with <c>TypedResults.ServerSentEvents(EnhancementEvents.StreamAsync(...))</c>.
/// </summary>
public static class EnhancementEvents
{
    public const string Token = "token";
    public const string Done = "done";
    public const string Error = "error";

    public static async IAsyncEnumerable<SseItem<string>> StreamAsync(
        PromptEnhancer enhancer,
        EnhanceApiRequest body,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(enhancer);
        ArgumentNullException.ThrowIfNull(body);
        IAsyncEnumerator<string>? tokens = null;
        string? failure = null;
        try
        {
            tokens = enhancer.EnhanceAsync(body.ToEnhanceRequest(), cancellationToken).GetAsyncEnumerator(cancellationToken);
        }
        catch (EnhancerException e)
        {
            failure = e.Message;
        }
        if (tokens is null)
        {
            yield return new SseItem<string>(failure!, Error);
            yield break;
        }
        await using (tokens.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await tokens.MoveNextAsync().ConfigureAwait(false))
                        break;
                }
                catch (EnhancerException e)
                {
                    failure = e.Message;
                    break;
                }
                yield return new SseItem<string>(tokens.Current, Token);
            }
        }
        yield return failure is null ? new SseItem<string>("", Done) : new SseItem<string>(failure, Error);
    }
}
