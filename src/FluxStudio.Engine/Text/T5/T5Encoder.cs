using FluxStudio.Engine.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Embedding = FluxStudio.Engine.Layers.Embedding;

namespace FluxStudio.Engine.Text.T5;

/// <summary>
/// The T5 v1.1 encoder (Hugging Face <c>T5EncoderModel</c>): FLUX.1 takes its last hidden state for 256 or 512 token
/// ids, without an attention mask (padding takes part in attention). Inference only: parameters never require
/// gradients.
/// </summary>
/// <remarks>
/// Parameter names are the checkpoint's (<c>shared.weight</c>, <c>encoder.block.0.layer.0.SelfAttention.q.weight</c>,
/// ...). The reference ties <c>encoder.embed_tokens.weight</c> to <c>shared.weight</c>; files store one of them.
/// </remarks>
public sealed class T5Encoder : nn.Module<Tensor, Tensor>
{
    private const string SharedEmbedding = "shared.weight";
    internal const string TiedEmbedding = "encoder.embed_tokens.weight";

#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Embedding shared;
    private readonly T5Stack encoder;
#pragma warning restore IDE1006

    /// <summary>Creates the model with uninitialised weights (load them, or randomize them for tests).</summary>
    public T5Encoder(T5EncoderConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(T5Encoder))
    {
        config.Validate();
        Config = config;
        DType = dtype;
        Device = device ?? CPU;
        // T5 does not scale its token embeddings.
        shared = new Embedding(config.VocabSize, config.DModel, dtype, Device);
        encoder = new T5Stack(config, dtype, Device);
        RegisterComponents();
        foreach (var parameter in parameters()) parameter.requires_grad = false;
    }

    public T5EncoderConfig Config { get; }

    /// <summary>The dtype the model computes in (norm statistics and softmax run in float32 regardless).</summary>
    public ScalarType DType { get; }

    public Device Device { get; }

    /// <summary>The last hidden state for [batch, length] ids, without an attention mask, as FLUX does.</summary>
    public override Tensor forward(Tensor inputIds) => Encode(inputIds).LastHiddenState;

    /// <param name="inputIds">[batch, length] token ids (int64 or int32).</param>
    /// <param name="attentionMask">Optional [batch, length], 1 for tokens to attend to and 0 for padding.</param>
    /// <param name="outputHiddenStates">Also return the embeddings and every block's output.</param>
    /// <returns>Tensors on <see cref="Device"/> in <see cref="DType"/>; the caller disposes them.</returns>
    public T5EncoderOutput Encode(Tensor inputIds, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        TextEncoderInputs.CheckIds(inputIds, Config.VocabSize, maxLength: null, "T5");
        TextEncoderInputs.CheckMask(attentionMask, inputIds);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var hiddenStates = outputHiddenStates ? new List<Tensor>() : null;
        var embeddings = shared.call(inputIds.to(ScalarType.Int64, Device));
        hiddenStates?.Add(embeddings);
        var lastHiddenState = encoder.Forward(embeddings, attentionMask?.to(Device), hiddenStates);
        return new T5EncoderOutput(
            lastHiddenState.MoveToOuterDisposeScope(),
            [.. (hiddenStates ?? []).Select(state => state.MoveToOuterDisposeScope())]);
    }

    /// <summary>The relative position bias every block adds for a sequence of this length: [1, heads, length, length].</summary>
    public Tensor PositionBias(long length)
    {
        using var _ = no_grad();
        return encoder.PositionBias(length);
    }

    /// <summary>
    /// Loads a checkpoint folder (FLUX.1's <c>text_encoder_2</c>: <c>config.json</c> and sharded
    /// <c>model.safetensors.index.json</c>), or a .safetensors file with a <c>config.json</c> beside it.
    /// </summary>
    public static T5Encoder Load(string path, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Load(path, ReadConfig(path), dtype, device);

    /// <summary>The config.json that belongs to a checkpoint folder or file.</summary>
    internal static T5EncoderConfig ReadConfig(string path) =>
        T5EncoderConfig.FromFile(CheckpointConfig.PathFor(path, "T5 encoder", "T5EncoderConfig.FluxT5Xxl"));

    /// <summary>Loads the weights of a folder or file with a known config.</summary>
    /// <exception cref="WeightLoadException">A tensor is missing, unexpected or of the wrong shape (named in the message).</exception>
    public static T5Encoder Load(string weightsPath, T5EncoderConfig config, ScalarType dtype = ScalarType.Float32,
        Device? device = null)
    {
        var model = new T5Encoder(config, dtype, device);
        try
        {
            using var source = WithTiedEmbedding(TensorSources.Open(weightsPath));
            WeightLoader.Load(model, source, ignoreUnexpected: name => name == TiedEmbedding);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Files that store only the tied copy of the token embedding get it under the shared name.</summary>
    internal static ITensorSource WithTiedEmbedding(ITensorSource source) =>
        source.Contains(SharedEmbedding) || !source.Contains(TiedEmbedding)
            ? source
            : new MappedTensorSource(source,
                new Dictionary<string, TensorRecipe> { [SharedEmbedding] = TensorRecipe.Rename(TiedEmbedding) },
                "tied embedding");
}
