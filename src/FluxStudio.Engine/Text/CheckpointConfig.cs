namespace FluxStudio.Engine.Text;

/// <summary>Finds the <c>config.json</c> that belongs to a checkpoint folder or file.</summary>
internal static class CheckpointConfig
{
    /// <param name="path">A checkpoint folder, or a weights file (or shard index) inside one.</param>
    /// <param name="part">The model part, for the message.</param>
    /// <param name="builtIn">The config constant to suggest when the file has none.</param>
    public static string PathFor(string path, string part, string builtIn)
    {
        if (!Directory.Exists(path) && !File.Exists(path))
            throw new FileNotFoundException($"{path}: the {part} checkpoint does not exist.", path);
        var folder = Directory.Exists(path) ? path : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var config = System.IO.Path.Combine(folder, "config.json");
        if (!File.Exists(config))
            throw new FileNotFoundException(
                $"{path}: no config.json for the {part} in {folder}. Put the model's config.json there, or load with an " +
                $"explicit config ({builtIn} for FLUX.1).", config);
        return config;
    }
}
