namespace FluxStudio.Engine.Models;

/// <summary>A model folder was found but lacks parts; <see cref="MissingParts"/> names them.</summary>
public sealed class IncompleteModelException(string message, string folder, IReadOnlyList<MissingModelPart> missingParts)
    : ModelNotFoundException(message, [folder])
{
    public string Folder { get; } = folder;

    public IReadOnlyList<MissingModelPart> MissingParts { get; } = missingParts;
}
