using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// A lookup table: row i of <see cref="weight"/> for token id i. Like <see cref="Linear"/> its weight starts
/// uninitialised, since it is always loaded (or randomized with <see cref="Initialization"/>): filling a 32 128 × 4096
/// table with random numbers first would cost T5 a second of loading for nothing.
/// </summary>
public sealed class Embedding : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Parameter names are the checkpoint's names.
    public readonly Parameter weight;
#pragma warning restore IDE1006

    public Embedding(long count, long dimension, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(nameof(Embedding))
    {
        weight = nn.Parameter(empty([count, dimension], dtype, device), requires_grad: false);
        RegisterComponents();
    }

    /// <param name="ids">Token ids of any shape (int64 or int32).</param>
    /// <returns>The rows, shape [..ids.shape, dimension].</returns>
    public override Tensor forward(Tensor ids) =>
        weight.index_select(0, ids.flatten()).view([.. ids.shape, weight.shape[1]]);
}
