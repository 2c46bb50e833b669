using static TorchSharp.torch;

namespace FluxStudio.Engine.Lora;

/// <summary>
/// One low-rank update, mapped onto our model: it adds factor × (x·downᵀ)·upᵀ to output rows [RowStart, RowEnd) of
/// the <see cref="Layers.Linear"/> at <see cref="Target"/> (a BFL module path such as <c>double_blocks.0.img_attn.qkv</c>).
/// </summary>
/// <param name="Source">The module's name in the file, for messages.</param>
/// <param name="Down">r × in, float32.</param>
/// <param name="Up">(RowEnd − RowStart) × r, float32, rows already in our order.</param>
/// <param name="Factor">The format's own multiplier (alpha / rank, or 1), before the user's scale.</param>
public sealed record LoraModule(string Source, string Target, long RowStart, long RowEnd, Tensor Down, Tensor Up, double Factor)
{
    public long Rows => RowEnd - RowStart;
}
