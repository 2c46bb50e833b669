namespace FluxStudio.Engine.Models;

/// <summary>A part of a model folder that is absent or unusable, and why.</summary>
public sealed record MissingModelPart(string Part, string Reason)
{
    public override string ToString() => $"{Part}: {Reason}";
}
