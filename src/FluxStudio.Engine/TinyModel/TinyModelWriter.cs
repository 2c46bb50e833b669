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

        DiffusersFolderFiles.WriteCommon(folder, dev);
        WriteTransformer(folder, dev, generator);
        WriteVae(folder, generator);
        WriteClip(folder, generator);
        WriteT5(folder, generator);
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
        DiffusersFolderFiles.WriteJson(folder, "transformer/config.json", DiffusersFolderFiles.Transformer(config));
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
        DiffusersFolderFiles.WriteJson(folder, "vae/config.json", DiffusersFolderFiles.Vae(config));
    }

    private static void WriteClip(string folder, Generator generator)
    {
        DiffusersFolderFiles.WriteJson(folder, "text_encoder/config.json", DiffusersFolderFiles.Clip(hidden: 24, intermediate: 48, heads: 2, layers: 2));
        using var model = new ClipTextModel(ClipTextConfig.FromFile(Path.Combine(folder, "text_encoder", "config.json")));
        Initialization.Randomize(model, generator);
        WriteWeights(folder, "text_encoder/model.safetensors", model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));
    }

    private static void WriteT5(string folder, Generator generator)
    {
        DiffusersFolderFiles.WriteJson(folder, "text_encoder_2/config.json", DiffusersFolderFiles.T5(dModel: 32, dFf: 64, dKv: 8, heads: 4, layers: 2));
        using var model = new T5Encoder(T5EncoderConfig.FromFile(Path.Combine(folder, "text_encoder_2", "config.json")));
        Initialization.Randomize(model, generator);
        // As in the published checkpoint, the token table is stored once, as shared.weight.
        var weights = model.named_parameters().Where(p => p.name != "encoder.embed_tokens.weight")
            .ToDictionary(p => p.name, p => (Tensor)p.parameter);
        WriteWeights(folder, "text_encoder_2/model.safetensors", weights);
    }

    private static void WriteWeights(string folder, string relative, IReadOnlyDictionary<string, Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SafetensorsWriter.Write(path, tensors.ToDictionary(p => p.Key, p => p.Value.detach().to(ScalarType.BFloat16)),
            new Dictionary<string, string> { ["format"] = "pt" });
    }
}
