namespace FluxStudio.Web.Components.Pages;

/// <summary>What an image handed to the Generate form becomes: the picture to start from, or the ControlNet's reference.</summary>
public enum PictureUse
{
    ImageToImage,
    ControlNet,
}
