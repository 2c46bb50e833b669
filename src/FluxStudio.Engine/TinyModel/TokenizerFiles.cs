namespace FluxStudio.Engine.TinyModel;

/// <summary>
/// The real FLUX.1 tokenizer files (CLIP ViT-L/14 BPE, MIT, OpenAI; T5 v1.1 SentencePiece, Apache-2.0, Google),
/// shipped inside the engine for tiny models. See TinyModel/Tokenizers/LICENSE.md.
/// </summary>
public static class TokenizerFiles
{
    private const string Prefix = "FluxStudio.Engine.TinyModel.Tokenizers.";

    public static void CopyTo(string clipFolder, string t5Folder)
    {
        Directory.CreateDirectory(clipFolder);
        Directory.CreateDirectory(t5Folder);
        var assembly = typeof(TokenizerFiles).Assembly;
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var relative = resource[Prefix.Length..];
            var (folder, file) = relative.StartsWith("clip.", StringComparison.Ordinal) ? (clipFolder, relative[5..])
                : relative.StartsWith("t5.", StringComparison.Ordinal) ? (t5Folder, relative[3..])
                : (null, null);
            if (folder is null) continue;
            using var source = assembly.GetManifestResourceStream(resource)!;
            using var target = File.Create(Path.Combine(folder, file!));
            source.CopyTo(target);
        }
    }
}
