using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;
using Embedding = FluxStudio.Engine.Layers.Embedding;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>Token embedding plus a learned absolute position embedding.</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Module names are the checkpoint's names.
    private readonly Embedding token_embedding;
    private readonly Embedding position_embedding;
#pragma warning restore IDE1006

    public ClipTextEmbeddings(ClipTextConfig config, ScalarType dtype, Device device) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = new Embedding(config.VocabSize, config.HiddenSize, dtype, device);
        position_embedding = new Embedding(config.MaxPositionEmbeddings, config.HiddenSize, dtype, device);
        RegisterComponents();
    }

    /// <param name="inputIds">[batch, length] token ids, length at most max_position_embeddings.</param>
    public override Tensor forward(Tensor inputIds)
    {
        // Positions always count from 0; checkpoints that store a position_ids buffer store exactly this.
        using var length = inputIds.shape[1].ToScalar();
        var positions = arange(length, ScalarType.Int64, inputIds.device);
        return token_embedding.call(inputIds).add(position_embedding.call(positions), One);
    }
}
