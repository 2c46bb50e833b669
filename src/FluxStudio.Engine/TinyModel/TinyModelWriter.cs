using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.TinyModel;

/// <summary>
/// Writes a tiny FLUX.1 model with random weights in the Hugging Face diffusers folder layout, with the real
/// tokenizer files: the same architecture and file layout as the published models at a few megabytes, so the
/// whole studio can run end to end without the 30 GB of real weights. The sizes are those of the golden
/// fixtures (hidden 64, two double and two single blocks, a ×2 VAE with 4 latent channels).
/// </summary>
public static class TinyModelWriter
{
    public static FluxConfig TransformerConfig(bool dev) => new(
        InChannels: 16, OutChannels: 16, VecInDim: 24, ContextInDim: 32, HiddenSize: 64, MlpRatio: 4.0, NumHeads: 2,
        Depth: 2, DepthSingleBlocks: 2, AxesDim: [8, 12, 12], Theta: 10_000, QkvBias: true, GuidanceEmbed: dev);

    public static void Write(string folder, bool dev, ulong seed)
    {
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"{folder} is not empty; choose a new folder for the tiny model.");
        Directory.CreateDirectory(folder);
        var generator = new Generator(seed);

        WriteJson(folder, "model_index.json", ModelIndex());
        WriteJson(folder, "scheduler/scheduler_config.json", Scheduler(dev));
        WriteTransformer(folder, dev, generator);
        WriteVae(folder, generator);
        WriteClip(folder, generator);
        WriteT5(folder, generator);
        TokenizerFiles.CopyTo(Path.Combine(folder, "tokenizer"), Path.Combine(folder, "tokenizer_2"));
    }

    private static void WriteTransformer(string folder, bool dev, Generator generator)
    {
        var config = TransformerConfig(dev);
        using var model = new FluxTransformer(config);
        Initialization.Randomize(model, generator);
        var canonical = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var diffusers = RecipeInverse.Invert(FluxKeyMap.Recipes(config), canonical,
            name => FluxKeyMap.FusedPartRows(name, config));
        WriteWeights(folder, "transformer/diffusion_pytorch_model.safetensors", diffusers);
        WriteJson(folder, "transformer/config.json", new JsonObject
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
        });
    }

    private static void WriteVae(string folder, Generator generator)
    {
        var config = new AutoEncoderConfig { Resolution = 64, Channels = 32, ChannelMultipliers = [1, 2], ResBlocks = 1, LatentChannels = 4 };
        using var model = new AutoEncoder(config);
        Initialization.Randomize(model, generator);
        var weights = new Dictionary<string, Tensor>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            var diffusersName = VaeKeyMap.BflToDiffusers(name, config.LevelCount)
                ?? throw new InvalidOperationException($"no diffusers name for {name}");
            // diffusers keeps the mid-block attention's 1×1 convolutions as linear maps.
            weights[diffusersName] = parameter.dim() == 4 && name.Contains(".attn_1.") ? parameter.flatten(1) : parameter;
        }
        WriteWeights(folder, "vae/diffusion_pytorch_model.safetensors", weights);
        WriteJson(folder, "vae/config.json", new JsonObject
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
        });
    }

    private static void WriteClip(string folder, Generator generator)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("CLIPTextModel"),
            ["bos_token_id"] = 0,
            ["eos_token_id"] = 2,
            ["hidden_act"] = "quick_gelu",
            ["hidden_size"] = 24,
            ["intermediate_size"] = 48,
            ["layer_norm_eps"] = 1e-5,
            ["max_position_embeddings"] = 77,
            ["model_type"] = "clip_text_model",
            ["num_attention_heads"] = 2,
            ["num_hidden_layers"] = 2,
            ["pad_token_id"] = 1,
            ["projection_dim"] = 24,
            ["vocab_size"] = 49408,
        };
        WriteJson(folder, "text_encoder/config.json", json);
        using var model = new ClipTextModel(ClipTextConfig.FromFile(Path.Combine(folder, "text_encoder", "config.json")));
        Initialization.Randomize(model, generator);
        WriteWeights(folder, "text_encoder/model.safetensors", model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));
    }

    private static void WriteT5(string folder, Generator generator)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("T5EncoderModel"),
            ["d_ff"] = 64,
            ["d_kv"] = 8,
            ["d_model"] = 32,
            ["dense_act_fn"] = "gelu_new",
            ["eos_token_id"] = 1,
            ["feed_forward_proj"] = "gated-gelu",
            ["is_gated_act"] = true,
            ["layer_norm_epsilon"] = 1e-6,
            ["model_type"] = "t5",
            ["num_heads"] = 4,
            ["num_layers"] = 2,
            ["pad_token_id"] = 0,
            ["relative_attention_max_distance"] = 128,
            ["relative_attention_num_buckets"] = 32,
            ["tie_word_embeddings"] = false,
            ["vocab_size"] = 32128,
        };
        WriteJson(folder, "text_encoder_2/config.json", json);
        using var model = new T5Encoder(T5EncoderConfig.FromFile(Path.Combine(folder, "text_encoder_2", "config.json")));
        Initialization.Randomize(model, generator);
        // As in the published checkpoint, the token table is stored once, as shared.weight.
        var weights = model.named_parameters().Where(p => p.name != "encoder.embed_tokens.weight")
            .ToDictionary(p => p.name, p => (Tensor)p.parameter);
        WriteWeights(folder, "text_encoder_2/model.safetensors", weights);
    }

    private static JsonObject ModelIndex() => new()
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

    private static JsonObject Scheduler(bool dev) => new()
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

    private static void WriteWeights(string folder, string relative, IReadOnlyDictionary<string, Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SafetensorsWriter.Write(path, tensors.ToDictionary(p => p.Key, p => p.Value.detach().to(ScalarType.BFloat16)),
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    private static void WriteJson(string folder, string relative, JsonNode json)
    {
        var path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
