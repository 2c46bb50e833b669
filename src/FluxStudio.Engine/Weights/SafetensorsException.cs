namespace FluxStudio.Engine.Weights;

/// <summary>A weight file that cannot be read as safetensors; the message names the file and the problem.</summary>
public sealed class SafetensorsException(string path, string problem)
    : IOException($"{path}: {problem}")
{
    public string FilePath { get; } = path;
    public string Problem { get; } = problem;
}
