using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>GELU with the tanh approximation, as FLUX's MLPs use it.</summary>
/// <remarks>
/// Its input is always a linear layer's fresh output, so when no gradient is recorded it is overwritten instead of
/// copied (at FLUX.1's size the MLP's hidden activations are tens of megabytes per block).
/// </remarks>
public sealed class TanhGelu() : nn.Module<Tensor, Tensor>(nameof(TanhGelu))
{
    public override Tensor forward(Tensor x) => Apply(x);

    /// <summary>GELU of a tensor nothing else reads afterwards.</summary>
    public static Tensor Apply(Tensor x) =>
        is_grad_enabled() ? x.gelu(TorchSharp.Modules.GELU.Approximate.tanh) : x.gelu_(TorchSharp.Modules.GELU.Approximate.tanh);
}
