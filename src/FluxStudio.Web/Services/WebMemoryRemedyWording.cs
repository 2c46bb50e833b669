using FluxStudio.App.Generation;
using FluxStudio.Engine.Memory;

namespace FluxStudio.Web.Services;

/// <summary>Memory remedies in the Generate tab's terms: its Width and Height fields, its Quantization menu, the low-memory setting.</summary>
public sealed class WebMemoryRemedyWording : IMemoryRemedyWording
{
    public const string LowMemorySetting = $"{EngineOptions.SectionName}:{nameof(EngineOptions.LowMemory)}";

    public string Describe(MemoryRemedy remedy)
    {
        var parts = new List<string>();
        if (remedy.QuantizeBits is { } bits) parts.Add($"{bits} bit in the Quantization menu");
        if (remedy.LowMemory) parts.Add($"the low-memory setting on ({LowMemorySetting} = true)");
        if (remedy.Width is { } width && remedy.Height is { } height) parts.Add($"Width {width} and Height {height}");
        return "with " + (parts.Count == 1 ? parts[0] : $"{string.Join(", ", parts.Take(parts.Count - 1))} and {parts[^1]}");
    }
}
