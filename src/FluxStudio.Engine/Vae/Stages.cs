using static TorchSharp.torch;

namespace FluxStudio.Engine.Vae;

internal static class Stages
{
    /// <summary>swish(x) = x·sigmoid(x), in place: it only ever follows a norm whose output nothing else holds.</summary>
    public static readonly nn.Module<Tensor, Tensor> Swish = nn.SiLU(inplace: true);

    /// <summary>
    /// Runs modules one after another. Each intermediate activation is freed as soon as the next stage has consumed
    /// it (at full resolution one activation of the real VAE is hundreds of megabytes); the input is left alone.
    /// </summary>
    public static Tensor Run(Tensor input, IEnumerable<nn.Module<Tensor, Tensor>?> stages)
    {
        var current = input;
        foreach (var stage in stages)
        {
            if (stage == null) continue;
            var next = stage.call(current);
            // An in-place stage may hand back the tensor it was given.
            if (!ReferenceEquals(current, input) && !ReferenceEquals(current, next)) current.Dispose();
            current = next;
        }
        return ReferenceEquals(current, input) ? input.alias() : current;
    }
}
