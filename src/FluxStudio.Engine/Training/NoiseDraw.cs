using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>
/// What training draws for one example: the index of its noise level in the schedule and its noise (the packed
/// latent's shape, float32).
/// </summary>
public sealed record NoiseDraw(int TimestepIndex, Tensor Noise) : IDisposable
{
    /// <summary>
    /// The original app's draw: two seeds from the training generator, a time seed then a noise seed. The index is uniform
    /// in [0, steps) from a generator seeded with the time seed; the noise is what a generation seeded with the noise seed
    /// starts from (<see cref="SeededNoise"/>: bfloat16 normal values), packed. The original derives both with MLX's
    /// generator instead, which cannot be reproduced here; the seeds, and so the random stream, are the same.
    /// </summary>
    public static NoiseDraw Draw(PythonRandom random, TrainingExample example, int steps)
    {
        var timeSeed = random.RandInt(0, uint.MaxValue);
        var noiseSeed = random.RandInt(0, uint.MaxValue);
        int index = (int)new PythonRandom(timeSeed).RandBelow(steps);
        using var noise = SeededNoise.Draw((ulong)noiseSeed, (int)example.LatentChannels, (int)(2 * example.Rows), (int)(2 * example.Columns),
            downsampleFactor: 1, example.CleanLatent.device);
        return new NoiseDraw(index, LatentPacking.Pack(noise).DetachFromDisposeScope());
    }

    public void Dispose() => Noise.Dispose();
}
