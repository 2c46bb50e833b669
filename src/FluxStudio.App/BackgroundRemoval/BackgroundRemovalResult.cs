namespace FluxStudio.App.BackgroundRemoval;

/// <summary>
/// The subject on a transparent background (<see cref="Png"/>, RGBA) and the matte on its own
/// (<see cref="MaskPng"/>, 8-bit grayscale, white = subject), both at the input's displayed size.
/// </summary>
public sealed record BackgroundRemovalResult(byte[] Png, byte[] MaskPng, int Width, int Height);
