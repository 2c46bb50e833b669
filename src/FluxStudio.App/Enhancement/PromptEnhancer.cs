using System.ClientModel;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OllamaSharp.Models.Exceptions;

namespace FluxStudio.App.Enhancement;

/// <summary>
/// Turns a short idea into a detailed FLUX prompt with a local text model, or describes an image as a prompt with
/// a vision model, streaming the answer token by token. Works with Ollama or any OpenAI-compatible chat server;
/// when none is running it says so and nothing else in the application is affected.
/// </summary>
public sealed class PromptEnhancer(
    IHttpClientFactory httpClientFactory,
    IOptionsMonitor<EnhancerOptions> options,
    TimeProvider timeProvider,
    ILogger<PromptEnhancer> logger)
{
    public const string HttpClientName = "FluxStudio.PromptEnhancer";

    private sealed record CachedModels(EnhancerProvider Provider, Uri Endpoint, DateTimeOffset FetchedAt, IReadOnlyList<EnhancerModel> Models);

    private CachedModels? _cache;

    /// <summary>
    /// The server's models with their vision flags. The list is reused for
    /// <see cref="EnhancerOptions.ModelListCacheDuration"/>; <paramref name="refresh"/> asks the server again,
    /// so models pulled while the application runs show up without a restart.
    /// </summary>
    /// <exception cref="EnhancerException">The server is unavailable, too slow or not the expected kind.</exception>
    public async Task<IReadOnlyList<EnhancerModel>> ListModelsAsync(bool refresh = false, CancellationToken cancellationToken = default)
    {
        var settings = options.CurrentValue;
        using var backend = CreateBackend(settings);
        return await ListModelsAsync(backend, settings, refresh, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Like <see cref="ListModelsAsync(bool, CancellationToken)"/>, but reports problems instead of throwing them.</summary>
    public async Task<EnhancerStatus> GetStatusAsync(bool refresh = false, CancellationToken cancellationToken = default)
    {
        var settings = options.CurrentValue;
        try
        {
            using var backend = CreateBackend(settings);
            var models = await ListModelsAsync(backend, settings, refresh, cancellationToken).ConfigureAwait(false);
            var problem = models.Count > 0 ? null : settings.Provider == EnhancerProvider.Ollama
                ? $"Ollama runs at {Display(backend.Endpoint)} but has no models yet. Install one with `ollama pull llama3.2` " +
                  "(text) or `ollama pull llama3.2-vision` (images), then refresh."
                : $"The server at {Display(backend.Endpoint)} lists no models. Load one in the server, then refresh.";
            return new EnhancerStatus(Display(backend.Endpoint), models, problem);
        }
        catch (EnhancerException e)
        {
            return new EnhancerStatus(settings.Endpoint, [], e.Message);
        }
    }

    /// <summary>
    /// Streams the enhanced prompt: each item is the next piece of text, to be appended to what came before.
    /// Cancelling the token stops the server's work as well.
    /// </summary>
    /// <exception cref="EnhancerException">The request is incomplete, or the server failed; the message says what to do.</exception>
    public async IAsyncEnumerable<string> EnhanceAsync(
        EnhanceRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Model))
            throw Invalid("Choose a model first.");
        if (string.IsNullOrWhiteSpace(request.Text) && request.Image is null)
            throw Invalid("Type an idea to enhance, or give an image to describe.");

        var settings = options.CurrentValue;
        using var backend = CreateBackend(settings);
        var models = await ListModelsAsync(backend, settings, refresh: false, cancellationToken).ConfigureAwait(false);
        var model = FindModel(models, request.Model);
        if (model is null)
        {
            // The model may have been pulled since the list was cached.
            models = await ListModelsAsync(backend, settings, refresh: true, cancellationToken).ConfigureAwait(false);
            model = FindModel(models, request.Model) ?? throw new EnhancerException(EnhancerErrorKind.UnknownModel,
                $"The model '{request.Model}' is not available at {Display(backend.Endpoint)}. {backend.HowToInstall(request.Model)}" +
                (models.Count > 0 ? $" Available: {string.Join(", ", models.Select(m => m.Name))}." : ""));
        }

        var messages = BuildConversation(model, request);
        logger.LogInformation("Enhancing with {Model} ({Mode}) at {Endpoint}", model.Name, model.IsVision ? "vision" : "text", backend.Endpoint);

        using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var chat = backend.CreateChatClient(model.Name);
        var updates = chat.GetStreamingResponseAsync(messages, new ChatOptions { ModelId = model.Name }, silence.Token)
            .GetAsyncEnumerator(silence.Token);
        await using (updates.ConfigureAwait(false))
        {
            var finished = false;
            var receivedAny = false;
            while (true)
            {
                silence.CancelAfter(settings.ResponseTimeout);
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                        break;
                }
                catch (Exception e) when (e is not EnhancerException)
                {
                    throw Translate(e, backend, settings, model.Name, receivedAny, silence, cancellationToken);
                }
                var update = updates.Current;
                finished |= update.FinishReason is not null;
                if (string.IsNullOrEmpty(update.Text))
                    continue;
                receivedAny = true;
                yield return update.Text;
            }
            // OllamaSharp ends the stream quietly when its token fires between two lines.
            cancellationToken.ThrowIfCancellationRequested();
            if (silence.IsCancellationRequested)
                throw TimedOut(backend, settings, receivedAny);
            if (!finished)
                throw new EnhancerException(EnhancerErrorKind.Interrupted,
                    $"{backend.ServerName} at {Display(backend.Endpoint)} closed the connection before the answer was complete " +
                    "(it may have stopped or run out of memory). Try again" + (receivedAny ? "; the partial text is kept." : "."));
        }
    }

    private static IReadOnlyList<ChatMessage> BuildConversation(EnhancerModel model, EnhanceRequest request)
    {
        if (model.IsVision)
        {
            if (request.Image is null)
                throw Invalid($"'{model.Name}' is a vision model: give it an image to describe, or choose a text model to enhance a written idea.");
            return EnhancementInstructions.ForImage(request.Image, request.Text);
        }
        if (request.Image is not null)
            throw Invalid($"'{model.Name}' cannot see images: choose a vision model to describe an image, or remove the image to enhance the text.");
        return EnhancementInstructions.ForText(request.Text!);
    }

    /// <summary>Ollama lists <c>name:tag</c>; people type the name alone for the <c>latest</c> tag.</summary>
    private static EnhancerModel? FindModel(IReadOnlyList<EnhancerModel> models, string name) =>
        models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? models.FirstOrDefault(m => string.Equals(m.Name, name + ":latest", StringComparison.OrdinalIgnoreCase));

    private async Task<IReadOnlyList<EnhancerModel>> ListModelsAsync(
        IEnhancerBackend backend, EnhancerOptions settings, bool refresh, CancellationToken cancellationToken)
    {
        var cached = _cache;
        var now = timeProvider.GetUtcNow();
        if (!refresh && cached is not null && cached.Provider == settings.Provider && cached.Endpoint == backend.Endpoint
            && now - cached.FetchedAt < settings.ModelListCacheDuration)
            return cached.Models;

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(settings.ModelListTimeout);
        IReadOnlyList<EnhancerModel> models;
        try
        {
            models = await backend.ListModelsAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not EnhancerException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (deadline.IsCancellationRequested)
                throw new EnhancerException(EnhancerErrorKind.TimedOut,
                    $"{backend.ServerName} at {Display(backend.Endpoint)} did not list its models within {settings.ModelListTimeout.TotalSeconds:0.#} s. " +
                    "Check that the endpoint is right and the server is not stuck, then refresh.", e);
            throw TranslateFailure(e, backend, settings, model: null);
        }
        logger.LogDebug("{Server} at {Endpoint} has {Count} models", backend.ServerName, backend.Endpoint, models.Count);
        _cache = new CachedModels(settings.Provider, backend.Endpoint, now, models);
        return models;
    }

    private IEnhancerBackend CreateBackend(EnhancerOptions settings)
    {
        if (!Uri.TryCreate(settings.Endpoint?.Trim(), UriKind.Absolute, out var endpoint)
            || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            throw Invalid($"The enhancer endpoint '{settings.Endpoint}' is not an http:// or https:// address. " +
                          $"Set it to {EnhancerOptions.DefaultOllamaEndpoint} for a local Ollama.");
        // A base address without the final slash would lose its last segment (the /v1 of OpenAI servers).
        if (!endpoint.AbsolutePath.EndsWith('/'))
            endpoint = new Uri(endpoint + "/");

        var http = httpClientFactory.CreateClient(HttpClientName);
        http.BaseAddress = endpoint;
        return settings.Provider switch
        {
            EnhancerProvider.Ollama => new OllamaBackend(http, logger),
            EnhancerProvider.OpenAI => new OpenAICompatibleBackend(http, settings.ApiKey),
            _ => throw Invalid($"Unknown enhancer provider '{settings.Provider}': use Ollama or OpenAI."),
        };
    }

    private static Exception Translate(
        Exception e, IEnhancerBackend backend, EnhancerOptions settings, string model, bool receivedAny,
        CancellationTokenSource silence, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
            return new OperationCanceledException("The enhancement was cancelled.", e, cancellationToken);
        if (silence.IsCancellationRequested)
            return TimedOut(backend, settings, receivedAny, e);
        // A connection that was made and then broke is an interruption; one never made means no server (below).
        if (e is IOException or ObjectDisposedException
            || (e is HttpRequestException { StatusCode: null } http && (receivedAny || (!CouldNotConnect(http) && http.InnerException is IOException))))
            return new EnhancerException(EnhancerErrorKind.Interrupted,
                $"The connection to {backend.ServerName} at {Display(backend.Endpoint)} broke before the answer was complete. " +
                "Try again" + (receivedAny ? "; the partial text is kept." : "."), e);
        return TranslateFailure(e, backend, settings, model);
    }

    private static EnhancerException TranslateFailure(Exception e, IEnhancerBackend backend, EnhancerOptions settings, string? model)
    {
        var (status, inner) = e switch
        {
            HttpRequestException http => (http.StatusCode, (Exception)http),
            ClientResultException { Status: 0, InnerException: HttpRequestException http } => (http.StatusCode, http),
            ClientResultException client => ((HttpStatusCode?)client.Status, client),
            _ => (null, e),
        };
        var where = $"{backend.ServerName} at {Display(backend.Endpoint)}";
        var wrongApiHint = settings.Provider == EnhancerProvider.OpenAI
            ? "Check the endpoint (OpenAI-compatible servers usually end in /v1) and the provider setting."
            : "Check the endpoint and the provider setting: is this really Ollama?";

        if (inner is HttpRequestException { StatusCode: null } unreachable)
            return CouldNotConnect(unreachable)
                ? new EnhancerException(EnhancerErrorKind.ServerUnavailable,
                    $"{backend.ServerName} is not running at {Display(backend.Endpoint)}. {backend.HowToStart}", e)
                : new EnhancerException(EnhancerErrorKind.BadReply,
                    $"{where} did not answer properly ({unreachable.Message}). {wrongApiHint}", e);
        if (status == HttpStatusCode.NotFound && model is not null)
            return new EnhancerException(EnhancerErrorKind.UnknownModel,
                $"{where} does not have the model '{model}'. {backend.HowToInstall(model)}", e);
        if (status is { } code)
            return new EnhancerException(EnhancerErrorKind.BadReply,
                $"{where} answered HTTP {(int)code} {code}{ServerMessage(e)}. " +
                (code == HttpStatusCode.NotFound ? wrongApiHint : "See the server's log for the cause."), e);
        return e switch
        {
            JsonException => new EnhancerException(EnhancerErrorKind.BadReply,
                $"{where} answered with something that is not its API's JSON. {wrongApiHint}", e),
            OllamaException ollama => new EnhancerException(EnhancerErrorKind.BadReply,
                $"{where} refused the request: {ollama.Message}", e),
            _ => new EnhancerException(EnhancerErrorKind.BadReply, $"{where} failed: {e.Message}", e),
        };
    }

    private static bool CouldNotConnect(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;

    private static string ServerMessage(Exception e) =>
        e is ClientResultException { Status: > 0 } client && !string.IsNullOrWhiteSpace(client.Message) ? $" ({client.Message.Trim()})" : "";

    private static EnhancerException TimedOut(IEnhancerBackend backend, EnhancerOptions settings, bool receivedAny, Exception? inner = null) =>
        new(EnhancerErrorKind.TimedOut,
            $"{backend.ServerName} at {Display(backend.Endpoint)} sent nothing for {settings.ResponseTimeout.TotalSeconds:0.#} s " +
            (receivedAny ? "in the middle of the answer. " : "(loading a large model can take a while). ") +
            "Try again, or raise the enhancer's response time-out in the settings.", inner);

    private static EnhancerException Invalid(string message) => new(EnhancerErrorKind.InvalidRequest, message);

    /// <summary>The address as people write it, without the final slash a base address needs.</summary>
    private static string Display(Uri endpoint) => endpoint.ToString().TrimEnd('/');
}
