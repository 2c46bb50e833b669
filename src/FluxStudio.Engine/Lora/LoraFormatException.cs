namespace FluxStudio.Engine.Lora;

/// <summary>A LoRA file that cannot be applied to the model: unknown keys only, or shapes made for another model.</summary>
public sealed class LoraFormatException(string path, string problem)
    : Exception($"{path}: {problem}")
{
    public string FilePath { get; } = path;

    public string Problem { get; } = problem;
}
