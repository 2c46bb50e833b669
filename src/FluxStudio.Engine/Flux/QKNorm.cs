using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>RMS-normalises queries and keys per head (before RoPE), each with its own scale.</summary>
public sealed class QKNorm : nn.Module
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly RMSNorm query_norm;
    public readonly RMSNorm key_norm;
#pragma warning restore IDE1006

    public QKNorm(long headDim, ScalarType dtype, Device? device) : base(nameof(QKNorm))
    {
        query_norm = new RMSNorm(headDim, dtype, device);
        key_norm = new RMSNorm(headDim, dtype, device);
        RegisterComponents();
    }

    public (Tensor Q, Tensor K) Forward(Tensor q, Tensor k, Tensor v) =>
        (query_norm.forward(q).to(v.dtype), key_norm.forward(k).to(v.dtype));
}
