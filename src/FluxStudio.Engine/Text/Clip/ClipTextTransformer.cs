using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>
/// Embeddings, causal pre-LN blocks and a final LayerNorm; pools the row at each sequence's end token.
/// </summary>
public sealed class ClipTextTransformer : nn.Module
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly ClipTextEmbeddings embeddings;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;
#pragma warning restore IDE1006
    private readonly int _eosTokenId;

    public ClipTextTransformer(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipTextTransformer))
    {
        _eosTokenId = config.EosTokenId;
        embeddings = new ClipTextEmbeddings(config, dtype, device);
        encoder = new ClipEncoder(config, dtype, device);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    public ClipTextOutput Forward(Tensor inputIds, Tensor? attentionMask, bool outputHiddenStates)
    {
        var hiddenStates = outputHiddenStates ? new List<Tensor>() : null;
        var hidden = embeddings.call(inputIds);
        hiddenStates?.Add(hidden);
        var maskBias = MaskBias(inputIds.shape[1], attentionMask, hidden.dtype, hidden.device);
        hidden = encoder.Forward(hidden, maskBias, hiddenStates);
        var lastHiddenState = final_layer_norm.call(hidden);
        var index = PooledIndex(inputIds).view(-1, 1, 1).expand(-1, 1, lastHiddenState.shape[2]);
        var pooled = lastHiddenState.gather(1, index).squeeze(1);
        return new ClipTextOutput(lastHiddenState, pooled, hiddenStates ?? []);
    }

    /// <summary>Position of each sequence's end token: the row the pooled output is taken from.</summary>
    /// <remarks>
    /// Configs with the legacy <c>eos_token_id</c> 2 (FLUX's) do not name the end token; transformers then takes the
    /// position of the largest id, first on ties, which is the first end token because &lt;|endoftext|&gt; is the
    /// largest id and padding repeats it. Other configs name the end token and its first position is taken.
    /// </remarks>
    public Tensor PooledIndex(Tensor inputIds)
    {
        if (_eosTokenId == ClipTextConfig.LegacyEosTokenId) return inputIds.argmax(-1);
        using var eosTokenId = _eosTokenId.ToScalar();
        return inputIds.eq(eosTokenId).to(ScalarType.Int32).argmax(-1);
    }

    /// <summary>
    /// The causal mask (a query sees itself and earlier keys) plus, if given, the padding mask (keys where the
    /// attention mask is 0 are hidden), both as the dtype's minimum added to the scores, like the reference.
    /// </summary>
    private static Tensor MaskBias(long length, Tensor? attentionMask, ScalarType dtype, Device device)
    {
        using var minimum = finfo(dtype).min.ToScalar();
        var bias = full([length, length], minimum, dtype, device).triu(1).view(1, 1, length, length);
        if (attentionMask is null) return bias;
        var padding = zeros(attentionMask.shape, dtype, device).masked_fill(attentionMask.eq(Zero), minimum);
        return bias.add(padding.view(attentionMask.shape[0], 1, 1, length), One);
    }
}
