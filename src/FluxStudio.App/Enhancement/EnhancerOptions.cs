namespace FluxStudio.App.Enhancement;

/// <summary>Which chat API the prompt enhancer speaks.</summary>
public enum EnhancerProvider
{
    /// <summary>Ollama's own API (<c>/api/tags</c>, <c>/api/show</c>, <c>/api/chat</c>).</summary>
    Ollama,

    /// <summary>An OpenAI-compatible chat server: LM Studio, llama.cpp's llama-server, vLLM (<c>/v1/models</c>, <c>/v1/chat/completions</c>).</summary>
    OpenAI,
}

/// <summary>Settings of the prompt enhancer (section <c>Enhancer</c>).</summary>
public sealed class EnhancerOptions
{
    public const string SectionName = "Enhancer";
    public const string DefaultOllamaEndpoint = "http://127.0.0.1:11434";

    public EnhancerProvider Provider { get; set; } = EnhancerProvider.Ollama;

    /// <summary>
    /// Base address of the server. For Ollama the root (<c>http://127.0.0.1:11434</c>); for OpenAI-compatible
    /// servers the address that ends in <c>/v1</c> (LM Studio: <c>http://127.0.0.1:1234/v1</c>).
    /// </summary>
    public string Endpoint { get; set; } = DefaultOllamaEndpoint;

    /// <summary>Key sent to OpenAI-compatible servers; local servers ignore it, so it may stay empty.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Longest wait for the model list (<c>/api/tags</c> and each <c>/api/show</c>).</summary>
    public TimeSpan ModelListTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest silence while a prompt is written: until the first token (which includes loading the model into
    /// memory) and between two tokens. A whole answer may take longer than this, as long as tokens keep coming.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>How long a fetched model list is reused before the server is asked again.</summary>
    public TimeSpan ModelListCacheDuration { get; set; } = TimeSpan.FromSeconds(30);
}
