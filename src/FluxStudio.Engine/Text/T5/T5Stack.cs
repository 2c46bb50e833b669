using TorchSharp;
using TorchSharp.Modules;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>The T5 encoder's blocks and final norm, with the position bias computed once in block 0 and shared.</summary>
public sealed class T5Stack : nn.Module
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly ModuleList<T5Block> block;
    private readonly T5RmsNorm final_layer_norm;
#pragma warning restore IDE1006

    public T5Stack(T5EncoderConfig config, ScalarType dtype, Device device) : base(nameof(T5Stack))
    {
        block = new ModuleList<T5Block>(
            [.. Enumerable.Range(0, config.NumLayers).Select(i => new T5Block(config, hasRelativeAttentionBias: i == 0, dtype, device))]);
        final_layer_norm = new T5RmsNorm(config.DModel, config.LayerNormEpsilon, dtype, device);
        RegisterComponents();
    }

    /// <summary>The position bias every block adds to its scores: [1, heads, length, length].</summary>
    public Tensor PositionBias(long length) => block[0].Attention.RelativeAttentionBias!.call(length);

    /// <param name="embeddings">[batch, length, d_model] token embeddings.</param>
    /// <param name="attentionMask">Optional [batch, length]; keys where it is 0 are hidden in every block.</param>
    /// <param name="hiddenStates">When given, receives every block's output (before the final norm).</param>
    public Tensor Forward(Tensor embeddings, Tensor? attentionMask, List<Tensor>? hiddenStates)
    {
        var scoreBias = PositionBias(embeddings.shape[1]);
        if (attentionMask is not null)
        {
            using var minimum = finfo(scoreBias.dtype).min.ToScalar();
            var padding = attentionMask.to(scoreBias.dtype).negative().add(One, One) * minimum;
            scoreBias = scoreBias.add(padding.view(attentionMask.shape[0], 1, 1, attentionMask.shape[1]), One);
        }

        var state = embeddings;
        foreach (var layer in block)
        {
            // Free each block's intermediates (large for XXL) as soon as the block is done.
            using (var scope = NewDisposeScope())
                state = layer.call(state, scoreBias).MoveToOuterDisposeScope();
            hiddenStates?.Add(state);
        }
        return final_layer_norm.call(state);
    }
}
