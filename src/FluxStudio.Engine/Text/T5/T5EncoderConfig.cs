using System.Text.Json;
using System.Text.Json.Serialization;

namespace FluxStudio.Engine.Text.T5;

/// <summary>The nonlinearity on the gate branch of T5's gated feed-forward.</summary>
public enum T5Activation
{
    /// <summary>The tanh approximation of GELU (<c>gelu_new</c> = <c>gelu_pytorch_tanh</c>), as T5 v1.1 uses.</summary>
    GeluTanh,

    /// <summary>The exact (erf) GELU.</summary>
    Gelu,

    Relu,

    Silu,
}

/// <summary>
/// Hyper-parameters of a T5 v1.1 encoder (gated feed-forward, RMS norm, shared relative position bias), as Hugging
/// Face's <c>T5Config</c> (<c>config.json</c> of FLUX.1's <c>text_encoder_2</c> folder) states them.
/// </summary>
public sealed record T5EncoderConfig(
    int VocabSize,
    int DModel,
    int DKv,
    int NumHeads,
    int DFf,
    int NumLayers,
    int RelativeAttentionNumBuckets = 32,
    int RelativeAttentionMaxDistance = 128,
    double LayerNormEpsilon = 1e-6,
    T5Activation FeedForwardActivation = T5Activation.GeluTanh)
{
    /// <summary>FLUX.1's second text encoder: the encoder of Google's T5 v1.1 XXL.</summary>
    public static T5EncoderConfig FluxT5Xxl { get; } = new(
        VocabSize: 32128, DModel: 4096, DKv: 64, NumHeads: 64, DFf: 10240, NumLayers: 24);

    /// <summary>Width of the attention's q/k/v projections; equals d_model in XXL but not in general.</summary>
    public int InnerDim => NumHeads * DKv;

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first inconsistent value.</summary>
    public void Validate(string source = "T5 encoder config")
    {
        void Positive(int value, string name)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {name} must be positive, got {value}.");
        }
        Positive(VocabSize, "vocab_size");
        Positive(DModel, "d_model");
        Positive(DKv, "d_kv");
        Positive(NumHeads, "num_heads");
        Positive(DFf, "d_ff");
        Positive(NumLayers, "num_layers");
        // Bidirectional buckets split in two halves, each with an exact half and a logarithmic half.
        if (RelativeAttentionNumBuckets < 4 || RelativeAttentionNumBuckets % 4 != 0)
            throw new InvalidDataException(
                $"{source}: relative_attention_num_buckets must be a positive multiple of 4, got {RelativeAttentionNumBuckets}.");
        if (RelativeAttentionMaxDistance <= RelativeAttentionNumBuckets / 4)
            throw new InvalidDataException(
                $"{source}: relative_attention_max_distance {RelativeAttentionMaxDistance} must exceed " +
                $"relative_attention_num_buckets / 4 = {RelativeAttentionNumBuckets / 4}.");
        if (!(LayerNormEpsilon > 0))
            throw new InvalidDataException($"{source}: layer_norm_epsilon must be positive, got {LayerNormEpsilon}.");
    }

    /// <summary>Reads a Hugging Face <c>config.json</c> of a T5 (v1.1) model.</summary>
    public static T5EncoderConfig FromFile(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: the T5 encoder's config.json does not exist.", path);
        return FromJson(File.ReadAllText(path), path);
    }

    public static T5EncoderConfig FromJson(string json, string source = "config.json")
    {
        FileFields fields;
        try
        {
            fields = JsonSerializer.Deserialize<FileFields>(json)
                ?? throw new InvalidDataException($"{source}: the file holds no JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a valid T5 config.json ({e.Message}).", e);
        }
        if (fields.ModelType is { } type && type != "t5")
            throw new InvalidDataException(
                $"{source}: model_type is \"{type}\", expected \"t5\". Point at the folder of the T5 encoder " +
                "(FLUX.1's text_encoder_2).");

        int Required(int? value, string name) => value ??
            throw new InvalidDataException($"{source}: \"{name}\" is missing; a T5 config must state it.");
        var config = new T5EncoderConfig(
            VocabSize: Required(fields.VocabSize, "vocab_size"),
            DModel: Required(fields.DModel, "d_model"),
            DKv: Required(fields.DKv, "d_kv"),
            NumHeads: Required(fields.NumHeads, "num_heads"),
            DFf: Required(fields.DFf, "d_ff"),
            NumLayers: Required(fields.NumLayers, "num_layers"),
            RelativeAttentionNumBuckets: fields.RelativeAttentionNumBuckets ?? 32,
            RelativeAttentionMaxDistance: fields.RelativeAttentionMaxDistance ?? 128,
            LayerNormEpsilon: fields.LayerNormEpsilon ?? 1e-6,
            FeedForwardActivation: ResolveActivation(fields, source));
        config.Validate(source);
        return config;
    }

    /// <summary>
    /// Transformers derives the activation from <c>feed_forward_proj</c> ("gated-gelu" meaning the tanh GELU), and
    /// explicit <c>dense_act_fn</c> / <c>is_gated_act</c> entries override it (FLUX's config states those instead).
    /// </summary>
    private static T5Activation ResolveActivation(FileFields fields, string source)
    {
        var projection = fields.FeedForwardProj ?? "relu";
        var parts = projection.Split('-');
        if (parts.Length > 2 || (parts.Length == 2 && parts[0] != "gated"))
            throw new InvalidDataException(
                $"{source}: feed_forward_proj \"{projection}\" is not of the form \"gated-<act>\" or \"<act>\".");
        var activation = projection == "gated-gelu" ? "gelu_new" : parts[^1];
        var gated = parts.Length == 2;
        activation = fields.DenseActFn ?? activation;
        gated = fields.IsGatedAct ?? gated;
        if (!gated)
            throw new InvalidDataException(
                $"{source}: this is a T5 with an ungated feed-forward (original T5 v1.0); only T5 v1.1 encoders " +
                "(feed_forward_proj \"gated-gelu\" or is_gated_act true), as FLUX.1 uses, are supported.");
        return activation switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => T5Activation.GeluTanh,
            "gelu" => T5Activation.Gelu,
            "relu" => T5Activation.Relu,
            "silu" or "swish" => T5Activation.Silu,
            _ => throw new InvalidDataException(
                $"{source}: activation \"{activation}\" is not supported; use gelu_new, gelu_pytorch_tanh, gelu, relu or silu."),
        };
    }

    private sealed record FileFields(
        [property: JsonPropertyName("model_type")] string? ModelType,
        [property: JsonPropertyName("vocab_size")] int? VocabSize,
        [property: JsonPropertyName("d_model")] int? DModel,
        [property: JsonPropertyName("d_kv")] int? DKv,
        [property: JsonPropertyName("num_heads")] int? NumHeads,
        [property: JsonPropertyName("d_ff")] int? DFf,
        [property: JsonPropertyName("num_layers")] int? NumLayers,
        [property: JsonPropertyName("relative_attention_num_buckets")] int? RelativeAttentionNumBuckets,
        [property: JsonPropertyName("relative_attention_max_distance")] int? RelativeAttentionMaxDistance,
        [property: JsonPropertyName("layer_norm_epsilon")] double? LayerNormEpsilon,
        [property: JsonPropertyName("feed_forward_proj")] string? FeedForwardProj,
        [property: JsonPropertyName("dense_act_fn")] string? DenseActFn,
        [property: JsonPropertyName("is_gated_act")] bool? IsGatedAct);
}
