namespace FluxStudio.Engine.Models;

/// <summary>No usable model was found. The message lists every place that was searched and how to get the model.</summary>
public class ModelNotFoundException : Exception
{
    public ModelNotFoundException(string message, IReadOnlyList<string> searchedPlaces)
        : base(message) => SearchedPlaces = searchedPlaces;

    /// <summary>Each place looked at, with why it did not qualify.</summary>
    public IReadOnlyList<string> SearchedPlaces { get; }
}
