namespace FluxStudio.App.Enhancement;

/// <summary>What the Prompt tab shows: the models, or why there are none and what to do about it.</summary>
/// <param name="Endpoint">The address that was asked.</param>
/// <param name="Models">The models found; empty when the server is unavailable.</param>
/// <param name="Problem">Null when everything is usable; otherwise a message for the user.</param>
public sealed record EnhancerStatus(string Endpoint, IReadOnlyList<EnhancerModel> Models, string? Problem)
{
    public bool IsUsable => Problem is null;
}
