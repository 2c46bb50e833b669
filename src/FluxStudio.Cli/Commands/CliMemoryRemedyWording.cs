using FluxStudio.Engine.Memory;

namespace FluxStudio.Cli.Commands;

/// <summary>Memory remedies as `generate` flags: <c>--width/--height</c>, <c>-q 8</c>, <c>--low-ram</c>.</summary>
public sealed class CliMemoryRemedyWording : IMemoryRemedyWording
{
    public static CliMemoryRemedyWording Instance { get; } = new();

    public string Describe(MemoryRemedy remedy)
    {
        var flags = new List<string>();
        if (remedy.QuantizeBits is { } bits) flags.Add($"-q {bits}");
        if (remedy.LowMemory) flags.Add("--low-ram");
        if (remedy.Width is { } width && remedy.Height is { } height) flags.Add($"--width {width} --height {height}");
        return "with " + string.Join(" ", flags);
    }
}
