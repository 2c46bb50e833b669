using System.Text.Json;
using System.Text.Json.Serialization;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>The nonlinearity of CLIP's MLP blocks.</summary>
public enum ClipActivation
{
    /// <summary>x·sigmoid(1.702·x), as OpenAI's CLIP-L (FLUX.1's first text encoder) was trained.</summary>
    QuickGelu,

    /// <summary>The exact (erf) GELU, used by later CLIP variants such as OpenCLIP bigG.</summary>
    Gelu,
}

/// <summary>
/// Hyper-parameters of a CLIP text transformer, as Hugging Face's <c>CLIPTextConfig</c> (<c>config.json</c> of
/// FLUX.1's <c>text_encoder</c> folder) states them.
/// </summary>
/// <param name="EosTokenId">
/// The config's <c>eos_token_id</c>. The legacy value 2 (kept by FLUX's and openai/clip-vit-large-patch14's configs)
/// means "the end token is the largest id", which the pooled-output rule depends on.
/// </param>
public sealed record ClipTextConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int MaxPositionEmbeddings = 77,
    double LayerNormEps = 1e-5,
    ClipActivation HiddenAct = ClipActivation.QuickGelu,
    int EosTokenId = ClipTextConfig.LegacyEosTokenId)
{
    /// <summary>The <c>eos_token_id</c> of the original CLIP configs, which does not name the real end token.</summary>
    public const int LegacyEosTokenId = 2;

    /// <summary>FLUX.1's first text encoder: the text half of OpenAI's CLIP ViT-L/14.</summary>
    public static ClipTextConfig FluxClipL { get; } = new(
        VocabSize: 49408, HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12, NumAttentionHeads: 12);

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first inconsistent value.</summary>
    public void Validate(string source = "CLIP text config")
    {
        void Positive(int value, string name)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {name} must be positive, got {value}.");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException(
                $"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        if (!(LayerNormEps > 0))
            throw new InvalidDataException($"{source}: layer_norm_eps must be positive, got {LayerNormEps}.");
    }

    /// <summary>Reads a Hugging Face <c>config.json</c> of a CLIP text model.</summary>
    public static ClipTextConfig FromFile(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: the CLIP text encoder's config.json does not exist.", path);
        return FromJson(File.ReadAllText(path), path);
    }

    public static ClipTextConfig FromJson(string json, string source = "config.json")
    {
        FileFields fields;
        try
        {
            fields = JsonSerializer.Deserialize<FileFields>(json)
                ?? throw new InvalidDataException($"{source}: the file holds no JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a valid CLIP text config.json ({e.Message}).", e);
        }
        if (fields.ModelType is { } type && type != "clip_text_model")
            throw new InvalidDataException(
                $"{source}: model_type is \"{type}\", expected \"clip_text_model\". Point at the folder of the CLIP " +
                "text encoder (FLUX.1's text_encoder).");

        int Required(int? value, string name) => value ??
            throw new InvalidDataException($"{source}: \"{name}\" is missing; a CLIP text model config must state it.");
        var config = new ClipTextConfig(
            VocabSize: Required(fields.VocabSize, "vocab_size"),
            HiddenSize: Required(fields.HiddenSize, "hidden_size"),
            IntermediateSize: Required(fields.IntermediateSize, "intermediate_size"),
            NumHiddenLayers: Required(fields.NumHiddenLayers, "num_hidden_layers"),
            NumAttentionHeads: Required(fields.NumAttentionHeads, "num_attention_heads"),
            MaxPositionEmbeddings: fields.MaxPositionEmbeddings ?? 77,
            LayerNormEps: fields.LayerNormEps ?? 1e-5,
            HiddenAct: ParseActivation(fields.HiddenAct ?? "quick_gelu", source),
            EosTokenId: fields.EosTokenId ?? LegacyEosTokenId);
        config.Validate(source);
        return config;
    }

    private static ClipActivation ParseActivation(string name, string source) => name switch
    {
        "quick_gelu" => ClipActivation.QuickGelu,
        "gelu" => ClipActivation.Gelu,
        _ => throw new InvalidDataException(
            $"{source}: hidden_act \"{name}\" is not supported; CLIP text models use \"quick_gelu\" or \"gelu\"."),
    };

    private sealed record FileFields(
        [property: JsonPropertyName("model_type")] string? ModelType,
        [property: JsonPropertyName("vocab_size")] int? VocabSize,
        [property: JsonPropertyName("hidden_size")] int? HiddenSize,
        [property: JsonPropertyName("intermediate_size")] int? IntermediateSize,
        [property: JsonPropertyName("num_hidden_layers")] int? NumHiddenLayers,
        [property: JsonPropertyName("num_attention_heads")] int? NumAttentionHeads,
        [property: JsonPropertyName("max_position_embeddings")] int? MaxPositionEmbeddings,
        [property: JsonPropertyName("layer_norm_eps")] double? LayerNormEps,
        [property: JsonPropertyName("hidden_act")] string? HiddenAct,
        [property: JsonPropertyName("eos_token_id")] int? EosTokenId);
}
