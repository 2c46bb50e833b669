namespace FluxStudio.Engine.Quantization;

/// <summary>A quantized model file that is corrupt, or does not fit the model or the settings it claims.</summary>
public sealed class QuantizedModelException(string source, string problem)
    : Exception($"{source}: {problem}. The quantized model is damaged or was written for another model; " +
                "save it again from the original weights (fluxstudio save).")
{
    public string ModelFile { get; } = source;
}
