using static TorchSharp.torch;

namespace FluxStudio.Engine.Text.Clip;

/// <summary>What the CLIP text model returns; FLUX.1 uses only <see cref="Pooled"/>.</summary>
/// <param name="LastHiddenState">[batch, length, hidden], after the final LayerNorm.</param>
/// <param name="Pooled">[batch, hidden]: the row of <see cref="LastHiddenState"/> at each sequence's end token.</param>
/// <param name="HiddenStates">
/// Empty unless asked for: the embeddings, then the output of every block (before the final LayerNorm).
/// </param>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor Pooled, IReadOnlyList<Tensor> HiddenStates)
    : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        Pooled.Dispose();
        foreach (var state in HiddenStates) state.Dispose();
    }
}
