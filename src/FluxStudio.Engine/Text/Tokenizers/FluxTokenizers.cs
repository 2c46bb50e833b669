namespace FluxStudio.Engine.Text;

/// <summary>The two tokenizers of a FLUX.1 model, read from a diffusers-layout model folder.</summary>
public sealed record FluxTokenizers(ClipTokenizer Clip, T5Tokenizer T5)
{
    /// <summary>The CLIP tokenizer's subfolder of a diffusers FLUX.1 folder.</summary>
    public const string ClipFolderName = "tokenizer";

    /// <summary>The T5 tokenizer's subfolder of a diffusers FLUX.1 folder.</summary>
    public const string T5FolderName = "tokenizer_2";

    /// <summary>Loads <c>tokenizer/</c> (CLIP) and <c>tokenizer_2/</c> (T5) of <paramref name="modelFolder"/>.</summary>
    /// <exception cref="TokenizerFileException">A tokenizer file is missing or cannot be read.</exception>
    public static FluxTokenizers FromModelFolder(string modelFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelFolder);
        return new FluxTokenizers(
            ClipTokenizer.FromFolder(Path.Combine(modelFolder, ClipFolderName)),
            T5Tokenizer.FromFolder(Path.Combine(modelFolder, T5FolderName)));
    }
}
