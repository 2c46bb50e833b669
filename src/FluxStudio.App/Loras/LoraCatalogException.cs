namespace FluxStudio.App.Loras;

/// <summary>The LoRA catalog could not be changed; the message says why and what to do.</summary>
public sealed class LoraCatalogException(string message) : Exception(message);
