namespace FluxStudio.Engine.Weights;

/// <summary>Opens whatever holds a model part's weights: one file, a shard index, or a folder with either.</summary>
public static class TensorSources
{
    private static readonly string[] FolderFileNames =
    [
        "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
        "diffusion_pytorch_model.safetensors", "model.safetensors",
    ];

    public static ITensorSource Open(string path)
    {
        if (Directory.Exists(path))
        {
            foreach (var name in FolderFileNames)
            {
                var candidate = Path.Combine(path, name);
                if (File.Exists(candidate)) return Open(candidate);
            }
            var single = Directory.GetFiles(path, "*.safetensors");
            if (single.Length == 1) return SafetensorsFile.Open(single[0]);
            throw new FileNotFoundException(
                $"{path}: no weights found; expected one of {string.Join(", ", FolderFileNames)} or a single .safetensors file.");
        }
        if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
            return ShardedSafetensors.Open(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return SafetensorsFile.Open(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: the weight file does not exist.", path);
        throw new NotSupportedException(
            $"{path}: only .safetensors weights are loaded (pickled .bin/.pt/.ckpt files can run code and are refused); convert the file to safetensors.");
    }
}
