namespace FluxStudio.Engine.Models;

/// <summary>The two FLUX.1 releases: timestep-distilled schnell and guidance-distilled dev.</summary>
public enum FluxVariant
{
    Schnell,
    Dev,
}
