namespace FluxStudio.App.Enhancement;

/// <summary>A model the enhancer can use, and whether it can look at an image.</summary>
/// <param name="Name">The name the server knows it by, e.g. <c>llama3.2-vision:latest</c>.</param>
/// <param name="IsVision">True when the model accepts images: it then describes an image instead of enhancing text.</param>
public sealed record EnhancerModel(string Name, bool IsVision)
{
    public const string EnhanceLabel = "Enhance prompt";
    public const string DescribeImageLabel = "Describe image as prompt";

    /// <summary>What the action button says for this model.</summary>
    public string ActionLabel => IsVision ? DescribeImageLabel : EnhanceLabel;
}
