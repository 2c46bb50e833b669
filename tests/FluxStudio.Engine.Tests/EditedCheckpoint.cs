using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests;

/// <summary>Copies of checkpoints with tensors or metadata changed, for tests of how damaged or unusual files load.</summary>
public static class EditedCheckpoint
{
    /// <summary>
    /// Writes <paramref name="source"/>'s tensors and metadata, after the given edits, to <paramref name="destination"/>
    /// (which may be the source itself: everything is read before anything is written).
    /// </summary>
    public static string Write(string source, string destination, Action<Dictionary<string, Tensor>>? editTensors = null,
        Action<Dictionary<string, string>>? editMetadata = null)
    {
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> metadata;
        using (var file = SafetensorsFile.Open(source))
        {
            tensors = file.Names.ToDictionary(name => name, name => file.Load(name));
            metadata = new Dictionary<string, string>(file.Metadata);
        }
        try
        {
            editTensors?.Invoke(tensors);
            editMetadata?.Invoke(metadata);
            SafetensorsWriter.Write(destination, tensors, metadata);
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
        return destination;
    }
}
