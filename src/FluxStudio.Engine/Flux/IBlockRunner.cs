using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Calls one transformer block for <see cref="FluxTransformer.Forward"/>. Training installs one that keeps only each
/// block's inputs and recomputes the block during the backward pass (gradient checkpointing), so that the activations
/// of 57 blocks never exist at once.
/// </summary>
public interface IBlockRunner
{
    /// <param name="block">The block module, to know which trainable tensors it uses.</param>
    /// <param name="forward">The block's computation from <paramref name="inputs"/> to its outputs.</param>
    /// <param name="inputs">Hidden states first, then the conditioning (vec, pe).</param>
    Tensor[] Run(nn.Module block, Func<Tensor[], Tensor[]> forward, Tensor[] inputs);
}
