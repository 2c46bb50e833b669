using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.T5;

/// <summary>What the T5 encoder returns; FLUX.1 uses <see cref="LastHiddenState"/>.</summary>
/// <param name="LastHiddenState">[batch, length, d_model], after the final norm.</param>
/// <param name="HiddenStates">
/// Empty unless asked for: the token embeddings, then the output of every block (before the final norm).
/// </param>
public sealed record T5EncoderOutput(Tensor LastHiddenState, IReadOnlyList<Tensor> HiddenStates) : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        foreach (var state in HiddenStates) state.Dispose();
    }
}
