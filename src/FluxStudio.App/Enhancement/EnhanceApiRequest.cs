namespace FluxStudio.App.Enhancement;

/// <summary>The JSON body of <c>POST /api/enhance</c>.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Text">The idea to enhance, or wishes for the image description.</param>
/// <param name="ImageBase64">The image for vision models, base64 or a <c>data:</c> URL.</param>
public sealed record EnhanceApiRequest(string? Model, string? Text, string? ImageBase64 = null)
{
    /// <exception cref="EnhancerException">The image is not valid base64 or not a supported image.</exception>
    public EnhanceRequest ToEnhanceRequest() => new(
        Model,
        Text,
        string.IsNullOrWhiteSpace(ImageBase64) ? null : EnhanceImage.FromBase64(ImageBase64));
}
