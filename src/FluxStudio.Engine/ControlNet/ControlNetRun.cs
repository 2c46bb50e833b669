using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.ControlNet;

/// <summary>What a generation's ControlNet ran with: the edge map that was encoded (to save as <c>&lt;stem&gt;_controlnet_canny.png</c>), the strength, the encoding and the ControlNet's folder.</summary>
public sealed record ControlNetRun(RgbImage EdgeMap, float Strength, ControlNetEncoding Encoding, string ControlNetPath);
