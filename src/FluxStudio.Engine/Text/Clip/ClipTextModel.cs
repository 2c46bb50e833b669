using FluxStudio.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>
/// The CLIP text encoder (Hugging Face <c>CLIPTextModel</c>, no projection): FLUX.1 takes its pooled output for 77
/// token ids, without an attention mask. Inference only: parameters never require gradients.
/// </summary>
/// <remarks>Parameter names are the checkpoint's (<c>text_model.encoder.layers.0.self_attn.q_proj.weight</c>, ...).</remarks>
public sealed class ClipTextModel : nn.Module<Tensor, ClipTextOutput>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly ClipTextTransformer text_model;
#pragma warning restore IDE1006

    /// <summary>Creates the model with uninitialised weights (load them, or randomize them for tests).</summary>
    public ClipTextModel(ClipTextConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(ClipTextModel))
    {
        config.Validate();
        Config = config;
        DType = dtype;
        Device = device ?? CPU;
        text_model = new ClipTextTransformer(config, dtype, Device);
        RegisterComponents();
        foreach (var parameter in parameters()) parameter.requires_grad = false;
    }

    public ClipTextConfig Config { get; }

    /// <summary>The dtype the model computes in.</summary>
    public ScalarType DType { get; }

    public Device Device { get; }

    /// <summary>Encodes [batch, length] ids without an attention mask, as FLUX does.</summary>
    public override ClipTextOutput forward(Tensor inputIds) => Encode(inputIds);

    /// <param name="inputIds">[batch, length] token ids (int64 or int32), length at most max_position_embeddings.</param>
    /// <param name="attentionMask">
    /// Optional [batch, length], 1 for tokens to attend to and 0 for padding. FLUX passes none.
    /// </param>
    /// <param name="outputHiddenStates">Also return the embeddings and every block's output.</param>
    /// <returns>Tensors on <see cref="Device"/> in <see cref="DType"/>; the caller disposes them.</returns>
    public ClipTextOutput Encode(Tensor inputIds, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        TextEncoderInputs.CheckIds(inputIds, Config.VocabSize, Config.MaxPositionEmbeddings, "CLIP");
        TextEncoderInputs.CheckMask(attentionMask, inputIds);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var output = text_model.Forward(inputIds.to(ScalarType.Int64, Device), attentionMask?.to(Device), outputHiddenStates);
        return new ClipTextOutput(
            output.LastHiddenState.MoveToOuterDisposeScope(),
            output.Pooled.MoveToOuterDisposeScope(),
            [.. output.HiddenStates.Select(state => state.MoveToOuterDisposeScope())]);
    }

    /// <summary>Position of each sequence's end token, the row <see cref="ClipTextOutput.Pooled"/> comes from.</summary>
    public Tensor PooledIndex(Tensor inputIds) => text_model.PooledIndex(inputIds);

    /// <summary>
    /// Loads a checkpoint folder (FLUX.1's <c>text_encoder</c>: <c>config.json</c> and <c>model.safetensors</c>), or a
    /// .safetensors file with a <c>config.json</c> beside it.
    /// </summary>
    public static ClipTextModel Load(string path, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Load(path, ClipTextConfig.FromFile(CheckpointConfig.PathFor(path, "CLIP text encoder", "ClipTextConfig.FluxClipL")),
            dtype, device);

    /// <summary>Loads the weights of a folder or file with a known config.</summary>
    /// <exception cref="WeightLoadException">A tensor is missing, unexpected or of the wrong shape (named in the message).</exception>
    public static ClipTextModel Load(string weightsPath, ClipTextConfig config, ScalarType dtype = ScalarType.Float32,
        Device? device = null)
    {
        var model = new ClipTextModel(config, dtype, device);
        try
        {
            using var source = TensorSources.Open(weightsPath);
            WeightLoader.Load(model, source, ignoreUnexpected: IsIgnoredCheckpointEntry);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Entries some exports carry that are not weights of the text model: the position_ids buffer of older exports
    /// (always 0..76) and the text projection of <c>CLIPTextModelWithProjection</c> files, which FLUX does not use.
    /// </summary>
    private static bool IsIgnoredCheckpointEntry(string name) =>
        name is "text_model.embeddings.position_ids" or "text_projection.weight";
}
