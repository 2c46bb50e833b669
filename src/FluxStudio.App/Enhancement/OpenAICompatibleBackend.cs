using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace FluxStudio.App.Enhancement;

/// <summary>OpenAI-compatible chat servers (LM Studio, llama.cpp's llama-server, vLLM) through the OpenAI SDK.</summary>
internal sealed class OpenAICompatibleBackend : IEnhancerBackend
{
    private readonly HttpClient _http;
    private readonly OpenAIClient _client;

    public OpenAICompatibleBackend(HttpClient http, string? apiKey)
    {
        _http = http;
        _client = new OpenAIClient(
            // Local servers ignore the key, but the SDK insists on one.
            new ApiKeyCredential(string.IsNullOrWhiteSpace(apiKey) ? "not-needed" : apiKey),
            new OpenAIClientOptions
            {
                Endpoint = http.BaseAddress,
                Transport = new HttpClientPipelineTransport(http),
                // The enhancer has its own time-out between tokens, and a retry would hide a stopped server.
                NetworkTimeout = Timeout.InfiniteTimeSpan,
                RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            });
    }

    public string ServerName => "OpenAI-compatible server";

    public Uri Endpoint => _http.BaseAddress!;

    public string HowToStart =>
        "Start the server (LM Studio's local server, llama.cpp's `llama-server`, or `vllm serve`), or point FluxStudio " +
        "to where it runs (the enhancer endpoint setting, or --endpoint); these addresses usually end in /v1.";

    public string HowToInstall(string model) => $"Load the model '{model}' in the server, then refresh the model list.";

    public async Task<IReadOnlyList<EnhancerModel>> ListModelsAsync(CancellationToken cancellationToken)
    {
        var result = await _client.GetOpenAIModelClient().GetModelsAsync(cancellationToken).ConfigureAwait(false);
        return result.Value
            .Select(model => new EnhancerModel(model.Id, VisionModelHints.FromName(model.Id)))
            .OrderBy(model => model.Name, StringComparer.OrdinalIgnoreCase)
            .ToList();
    }

    public IChatClient CreateChatClient(string model) => _client.GetChatClient(model).AsIChatClient();

    public void Dispose() => _http.Dispose();
}
