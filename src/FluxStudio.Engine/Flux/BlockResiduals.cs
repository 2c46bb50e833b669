using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// Residuals added to the image tokens after the transformer's blocks (a ControlNet's output): one list for the double
/// blocks, one for the single blocks, either possibly empty.
/// </summary>
/// <remarks>
/// A ControlNet has fewer blocks than the transformer, so residuals are spread by the interval rule of diffusers and
/// mflux: with D blocks and n residuals, block i gets residual i // ceil(D / n). Residuals beyond the last block used
/// are ignored.
/// </remarks>
public sealed record BlockResiduals(IReadOnlyList<Tensor> Double, IReadOnlyList<Tensor> Single)
{
    /// <summary>Which residual block <paramref name="block"/> of <paramref name="blockCount"/> gets; null when there are none.</summary>
    public static int? IndexFor(int block, int blockCount, int residualCount) =>
        residualCount == 0 ? null : block / (int)Math.Ceiling(blockCount / (double)residualCount);

    /// <summary>The residual for double block <paramref name="block"/> of <paramref name="blockCount"/>, if any.</summary>
    public Tensor? ForDoubleBlock(int block, int blockCount) => Pick(Double, block, blockCount);

    /// <summary>The residual for single block <paramref name="block"/> of <paramref name="blockCount"/>, if any.</summary>
    public Tensor? ForSingleBlock(int block, int blockCount) => Pick(Single, block, blockCount);

    private static Tensor? Pick(IReadOnlyList<Tensor> residuals, int block, int blockCount) =>
        IndexFor(block, blockCount, residuals.Count) is { } index ? residuals[index] : null;
}
