using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Lora;

/// <summary>The tiny transformer of tests/Fixtures/pipeline-tiny, fixed inputs for it, and LoRA files written in tests.</summary>
internal static class LoraTestModel
{
    public static FluxTransformer Load() => FluxTransformer.Load(Fixtures.Path("pipeline-tiny", "model", "transformer"));

    public static Tensor Forward(FluxTransformer model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator(1234, CPU);
        var config = model.Config;
        var img = randn([1, 12, config.InChannels], generator: generator);
        var txt = randn([1, 5, config.ContextInDim], generator: generator);
        var y = randn([1, config.VecInDim], generator: generator);
        return model.Forward(img, LatentPacking.ImageIds(1, 3, 4), txt, LatentPacking.TextIds(1, 5), tensor(new[] { 0.7f }), y,
            tensor(new[] { 3.5f })).MoveToOuterDisposeScope();
    }

    /// <summary>W[rows] += strength × up·down on the named BFL weight: the reference merge, written independently of the engine.</summary>
    public static void Merge(FluxTransformer model, string weight, long rowStart, Tensor up, Tensor down, double strength)
    {
        using var _ = no_grad();
        var parameter = model.named_parameters().Single(p => p.name == weight).parameter;
        using var scale = strength.ToScalar();
        parameter.narrow(0, rowStart, up.shape[0]).add_(up.to(ScalarType.Float64).matmul(down.to(ScalarType.Float64)).mul(scale).to(parameter.dtype), One);
    }

    public static string Write(string directory, string name, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        string path = Path.Combine(directory, name);
        SafetensorsWriter.Write(path, tensors);
        return path;
    }

    public static Tensor Alpha(float value) => tensor(value).to(ScalarType.BFloat16);
}
