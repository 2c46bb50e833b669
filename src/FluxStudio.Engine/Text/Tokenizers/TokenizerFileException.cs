namespace FluxStudio.Engine.Text;

/// <summary>A tokenizer file of the model folder is missing or cannot be read.</summary>
public sealed class TokenizerFileException(string filePath, string message, Exception? innerException = null)
    : IOException(message, innerException)
{
    public string FilePath { get; } = filePath;

    internal static TokenizerFileException Missing(string filePath, string tokenizer, string folderHint) =>
        new(filePath,
            $"The {tokenizer} tokenizer file '{filePath}' does not exist. {folderHint} " +
            "Download the model again or point FluxStudio to a complete FLUX.1 model folder.");

    internal static TokenizerFileException Unreadable(string filePath, string tokenizer, string problem, Exception? inner = null) =>
        new(filePath,
            $"The {tokenizer} tokenizer file '{filePath}' cannot be used: {problem} The file is probably damaged or " +
            "incomplete; download the model again.",
            inner);
}
