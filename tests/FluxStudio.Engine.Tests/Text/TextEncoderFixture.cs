using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Text;

/// <summary>
/// The text-encoder golden fixtures (tests/Fixtures/text-encoders, see its README) and the comparisons the README
/// prescribes: integer tensors exactly, float32 tensors within absolute 1e-5 plus relative 1e-5.
/// </summary>
public static class TextEncoderFixture
{
    public const double Atol = 1e-5;
    public const double Rtol = 1e-5;

    public static string Folder(string model) => Fixtures.Path("text-encoders", model);

    public static SafetensorsFile Golden(string model) =>
        SafetensorsFile.Open(Path.Combine(Folder(model), "golden.safetensors"));

    public static void AssertClose(Tensor expected, Tensor actual, string name, double atol = Atol, double rtol = Rtol)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var want = expected.to(ScalarType.Float64, CPU);
        var got = actual.to(ScalarType.Float64, CPU);
        using var atolScalar = atol.ToScalar();
        using var rtolScalar = rtol.ToScalar();
        var error = (got - want).abs();
        var excess = (error - (rtolScalar * want.abs()).add(atolScalar, One)).max().item<double>();
        Assert.True(excess <= 0 && !got.isnan().any().item<bool>(),
            $"{name}: max abs error {error.max().item<double>():G3} exceeds {atol:G2} + {rtol:G2}·|expected|");
    }

    public static void AssertExact(Tensor expected, Tensor actual, string name)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var want = expected.to(ScalarType.Int64, CPU);
        using var got = actual.to(ScalarType.Int64, CPU);
        Assert.True(want.eq(got).all().item<bool>(), $"{name} differs from the reference");
    }

    /// <summary>
    /// Copies a fixture model into <paramref name="folder"/> (config.json and model.safetensors) with its tensors
    /// edited, for loader tests.
    /// </summary>
    public static string CopyModel(string model, string folder, Action<Dictionary<string, Tensor>> edit)
    {
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(Folder(model), "config.json"), Path.Combine(folder, "config.json"));
        EditedCheckpoint.Write(Path.Combine(Folder(model), "model.safetensors"), Path.Combine(folder, "model.safetensors"), edit);
        return folder;
    }
}
