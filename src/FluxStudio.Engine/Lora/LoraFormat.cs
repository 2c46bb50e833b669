namespace FluxStudio.Engine.Lora;

/// <summary>The naming schemes of FLUX LoRA files found in the wild.</summary>
public enum LoraFormat
{
    /// <summary>diffusers / PEFT: <c>transformer.transformer_blocks.0.attn.to_q.lora_A.weight</c>, optional per-module <c>.alpha</c>.</summary>
    Peft,

    /// <summary>kohya sd-scripts on BFL layers: <c>lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight</c>, <c>.alpha</c>.</summary>
    Kohya,

    /// <summary>XLabs x-flux: <c>double_blocks.0.processor.qkv_lora1.down.weight</c>, no alpha.</summary>
    XLabs,
}
