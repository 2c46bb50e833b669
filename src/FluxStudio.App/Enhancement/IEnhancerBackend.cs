using Microsoft.Extensions.AI;

namespace FluxStudio.App.Enhancement;

/// <summary>What differs between the chat servers the enhancer speaks to: listing models and making a chat client.</summary>
internal interface IEnhancerBackend : IDisposable
{
    /// <summary>Name of the server kind in messages, e.g. "Ollama".</summary>
    string ServerName { get; }

    Uri Endpoint { get; }

    /// <summary>What to tell the user when nothing answers at <see cref="Endpoint"/>.</summary>
    string HowToStart { get; }

    /// <summary>What to tell the user when a model is missing.</summary>
    string HowToInstall(string model);

    Task<IReadOnlyList<EnhancerModel>> ListModelsAsync(CancellationToken cancellationToken);

    IChatClient CreateChatClient(string model);
}
