using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using OllamaSharp;

namespace FluxStudio.App.Enhancement;

/// <summary>Ollama's native API through OllamaSharp.</summary>
internal sealed class OllamaBackend(HttpClient http, ILogger logger) : IEnhancerBackend
{
    private readonly OllamaApiClient _client = new(http);

    public string ServerName => "Ollama";

    public Uri Endpoint => http.BaseAddress!;

    public string HowToStart =>
        "Start it with `ollama serve` (or open the Ollama app), or point FluxStudio to where it runs (the enhancer " +
        "endpoint setting, or --endpoint). " +
        "Ollama is installed from https://ollama.com; everything else in FluxStudio works without it.";

    public string HowToInstall(string model) => $"Install it with `ollama pull {model}`, then refresh the model list.";

    public async Task<IReadOnlyList<EnhancerModel>> ListModelsAsync(CancellationToken cancellationToken)
    {
        var installed = (await _client.ListLocalModelsAsync(cancellationToken).ConfigureAwait(false))?.ToList()
            ?? throw new System.Text.Json.JsonException("/api/tags returned no model list");
        var models = await Task.WhenAll(installed.Select(async model =>
        {
            var name = model.Name ?? throw new System.Text.Json.JsonException("a model in /api/tags has no name");
            return new EnhancerModel(name, await IsVisionAsync(name, model.Details?.Families, cancellationToken).ConfigureAwait(false));
        })).ConfigureAwait(false);
        return models.OrderBy(model => model.Name, StringComparer.OrdinalIgnoreCase).ToList();
    }

    private async Task<bool> IsVisionAsync(string name, IEnumerable<string>? families, CancellationToken cancellationToken)
    {
        try
        {
            var details = await _client.ShowModelAsync(name, cancellationToken).ConfigureAwait(false);
            if (details?.Capabilities is { } capabilities)
                return capabilities.Contains("vision", StringComparer.OrdinalIgnoreCase);
            logger.LogDebug("Ollama reports no capabilities for {Model}; judging by its families", name);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // One unreadable model should not hide the others: fall back to what /api/tags said about it.
            logger.LogWarning(e, "Could not read the capabilities of {Model} from /api/show; judging by its families", name);
        }
        return VisionModelHints.FromFamilies(families);
    }

    public IChatClient CreateChatClient(string model) => new CancellableOllamaApiClient(http, model);

    public void Dispose()
    {
        _client.Dispose();
        http.Dispose();
    }
}
