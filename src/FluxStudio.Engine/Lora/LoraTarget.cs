namespace FluxStudio.Engine.Lora;

/// <summary>
/// Where a LoRA module of a file lands: rows [RowStart, RowEnd) of the linear layer at the BFL path
/// <see cref="Target"/>. <see cref="SwapHalves"/> marks diffusers' <c>norm_out.linear</c>, whose (scale, shift)
/// halves are in the opposite order to BFL's (shift, scale).
/// </summary>
public sealed record LoraTarget(string Target, long RowStart, long RowEnd, bool SwapHalves = false);
