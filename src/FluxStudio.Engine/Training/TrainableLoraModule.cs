using FluxStudio.Engine.Lora;
using TorchSharp.Modules;

namespace FluxStudio.Engine.Training;

/// <summary>
/// One trainable factor pair on one layer of the transformer: adds (x·Aᵀ)·Bᵀ to output rows
/// [<see cref="LoraTarget.RowStart"/>, <see cref="LoraTarget.RowEnd"/>) of the BFL layer <see cref="LoraTarget.Target"/>
/// (factor 1: no alpha, as the original app trains and as a PEFT file without alpha is applied).
/// </summary>
/// <param name="PeftModule">The diffusers module name (<c>transformer.single_transformer_blocks.0.attn.to_q</c>), used in PEFT LoRA files.</param>
/// <param name="CheckpointModule">The name the original app's checkpoints use (differs for the joint blocks' feed-forward layers).</param>
/// <param name="A">r × in, float32 (PEFT's lora_A, the "down" factor).</param>
/// <param name="B">rows × r, float32 (PEFT's lora_B, the "up" factor).</param>
public sealed record TrainableLoraModule(string PeftModule, string CheckpointModule, LoraTarget Target, Parameter A, Parameter B)
{
    public long Rank => A.shape[0];

    public long InFeatures => A.shape[1];

    public string PeftA => $"{PeftModule}.lora_A.weight";

    public string PeftB => $"{PeftModule}.lora_B.weight";

    public string CheckpointA => $"{CheckpointModule}.lora_A";

    public string CheckpointB => $"{CheckpointModule}.lora_B";

    /// <summary>The BFL path of the block the layer belongs to (<c>single_blocks.0</c>).</summary>
    public string Block => string.Join('.', Target.Target.Split('.').Take(2));
}
