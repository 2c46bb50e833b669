namespace FluxStudio.App.Enhancement;

/// <summary>One enhancement: a short idea to expand (text models) or an image to describe (vision models).</summary>
/// <param name="Model">The model's name as listed by <see cref="PromptEnhancer.ListModelsAsync"/>.</param>
/// <param name="Text">The user's idea; with a vision model, optional wishes that steer the description.</param>
/// <param name="Image">The image a vision model describes; text models take none.</param>
public sealed record EnhanceRequest(string? Model, string? Text, EnhanceImage? Image = null);
