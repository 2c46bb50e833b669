using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Vae;

namespace FluxStudio.Engine.TinyModel;

/// <summary>The JSON files of a FLUX.1 diffusers folder, for models written from scratch at any size.</summary>
internal static class DiffusersFolderFiles
{
    /// <summary>model_index.json, the scheduler config and the real tokenizer files.</summary>
    public static void WriteCommon(string folder, bool dev)
    {
        WriteJson(folder, "model_index.json", ModelIndex());
        WriteJson(folder, "scheduler/scheduler_config.json", Scheduler(dev));
        TokenizerFiles.CopyTo(Path.Combine(folder, "tokenizer"), Path.Combine(folder, "tokenizer_2"));
    }

    public static JsonObject Transformer(FluxConfig config) => new()
    {
        ["_class_name"] = "FluxTransformer2DModel",
        ["attention_head_dim"] = config.HeadDim,
        ["axes_dims_rope"] = new JsonArray([.. config.AxesDim.Select(d => (JsonNode)d)]),
        ["guidance_embeds"] = config.GuidanceEmbed,
        ["in_channels"] = config.InChannels,
        ["joint_attention_dim"] = config.ContextInDim,
        ["num_attention_heads"] = config.NumHeads,
        ["num_layers"] = config.Depth,
        ["num_single_layers"] = config.DepthSingleBlocks,
        ["out_channels"] = null,
        ["patch_size"] = 1,
        ["pooled_projection_dim"] = config.VecInDim,
    };

    public static JsonObject Vae(AutoEncoderConfig config) => new()
    {
        ["_class_name"] = "AutoencoderKL",
        ["act_fn"] = "silu",
        ["block_out_channels"] = new JsonArray([.. config.ChannelMultipliers.Select(m => (JsonNode)(m * config.Channels))]),
        ["down_block_types"] = new JsonArray([.. config.ChannelMultipliers.Select(_ => (JsonNode)"DownEncoderBlock2D")]),
        ["in_channels"] = 3,
        ["latent_channels"] = config.LatentChannels,
        ["layers_per_block"] = config.ResBlocks,
        ["mid_block_add_attention"] = true,
        ["norm_num_groups"] = config.NormGroups,
        ["out_channels"] = 3,
        ["sample_size"] = config.Resolution,
        ["scaling_factor"] = config.ScaleFactor,
        ["shift_factor"] = config.ShiftFactor,
        ["up_block_types"] = new JsonArray([.. config.ChannelMultipliers.Select(_ => (JsonNode)"UpDecoderBlock2D")]),
        ["use_post_quant_conv"] = false,
        ["use_quant_conv"] = false,
    };

    /// <summary>A CLIP text model config (FLUX.1's is hidden 768, intermediate 3072, 12 heads, 12 layers).</summary>
    public static JsonObject Clip(int hidden, int intermediate, int heads, int layers) => new()
    {
        ["architectures"] = new JsonArray("CLIPTextModel"),
        ["bos_token_id"] = 0,
        ["eos_token_id"] = 2,
        ["hidden_act"] = "quick_gelu",
        ["hidden_size"] = hidden,
        ["intermediate_size"] = intermediate,
        ["layer_norm_eps"] = 1e-5,
        ["max_position_embeddings"] = 77,
        ["model_type"] = "clip_text_model",
        ["num_attention_heads"] = heads,
        ["num_hidden_layers"] = layers,
        ["pad_token_id"] = 1,
        ["projection_dim"] = hidden,
        ["vocab_size"] = 49408,
    };

    /// <summary>A T5 encoder config (FLUX.1's T5-XXL: d_model 4096, d_ff 10240, d_kv 64, 64 heads, 24 layers).</summary>
    public static JsonObject T5(int dModel, int dFf, int dKv, int heads, int layers) => new()
    {
        ["architectures"] = new JsonArray("T5EncoderModel"),
        ["d_ff"] = dFf,
        ["d_kv"] = dKv,
        ["d_model"] = dModel,
        ["dense_act_fn"] = "gelu_new",
        ["eos_token_id"] = 1,
        ["feed_forward_proj"] = "gated-gelu",
        ["is_gated_act"] = true,
        ["layer_norm_epsilon"] = 1e-6,
        ["model_type"] = "t5",
        ["num_heads"] = heads,
        ["num_layers"] = layers,
        ["pad_token_id"] = 0,
        ["relative_attention_max_distance"] = 128,
        ["relative_attention_num_buckets"] = 32,
        ["tie_word_embeddings"] = false,
        ["vocab_size"] = 32128,
    };

    public static JsonObject ModelIndex() => new()
    {
        ["_class_name"] = "FluxPipeline",
        ["scheduler"] = new JsonArray("diffusers", "FlowMatchEulerDiscreteScheduler"),
        ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
        ["text_encoder_2"] = new JsonArray("transformers", "T5EncoderModel"),
        ["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer"),
        ["tokenizer_2"] = new JsonArray("transformers", "T5TokenizerFast"),
        ["transformer"] = new JsonArray("diffusers", "FluxTransformer2DModel"),
        ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
    };

    public static JsonObject Scheduler(bool dev) => new()
    {
        ["_class_name"] = "FlowMatchEulerDiscreteScheduler",
        ["base_image_seq_len"] = 256,
        ["base_shift"] = 0.5,
        ["max_image_seq_len"] = 4096,
        ["max_shift"] = 1.15,
        ["num_train_timesteps"] = 1000,
        ["shift"] = dev ? 3.0 : 1.0,
        ["use_dynamic_shifting"] = dev,
    };

    /// <summary>Writes <paramref name="json"/> to folder/relative (folders made as needed); returns the path.</summary>
    public static string WriteJson(string folder, string relative, JsonNode json)
    {
        var path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return path;
    }
}
