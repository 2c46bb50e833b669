using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Flux;

/// <summary>
/// LoRA training runs autograd through the frozen (possibly quantized) transformer: the in-place work inference does
/// must leave recorded forwards alone, and gradients must reach the input through every layer.
/// </summary>
public sealed class TransformerGradientTests
{
    private static string Tiny(params string[] parts) => Fixtures.Path(["flux-tiny", .. parts]);

    [Theory]
    [InlineData(null)]
    [InlineData(8)]
    [InlineData(4)]
    public void TheInputGradientMatchesTheChangeOfTheOutput(int? bits)
    {
        using var scope = NewDisposeScope();
        using var model = new FluxTransformer(FluxConfig.FromFile(Tiny("transformer_bfl", "config.json")));
        using (var weights = SafetensorsFile.Open(Tiny("transformer_bfl", "flux1-tiny.safetensors")))
            model.LoadWeights(weights);
        if (bits is { } b) Quantizer.QuantizeModule(model, b);
        using var golden = SafetensorsFile.Open(Tiny("forward.safetensors"));
        var (img, imgIds, txt, txtIds) = (golden.Load("img"), golden.Load("img_ids"), golden.Load("txt"), golden.Load("txt_ids"));
        var (timesteps, y, guidance) = (golden.Load("timesteps"), golden.Load("y"), golden.Load("guidance"));
        Tensor Forward(Tensor x) => model.Forward(x, imgIds, txt, txtIds, timesteps, y, guidance);

        var generator = new Generator(9);
        var weighting = randn(Forward(img.detach()).shape, generator: generator);
        var input = img.detach().clone().requires_grad_();
        var output = Forward(input);
        (output * weighting).sum().backward();
        Assert.NotNull(input.grad);

        var direction = randn(img.shape, generator: generator);
        const double step = 1e-2;
        using var stepScalar = step.ToScalar();
        double Objective(Tensor x)
        {
            using var _ = no_grad();
            return (Forward(x) * weighting).sum().item<float>();
        }
        double numeric = (Objective(img.add(stepScalar * direction, One)) - Objective(img - stepScalar * direction)) / (2 * step);
        double analytic = (input.grad! * direction).sum().item<float>();
        Assert.True(Math.Abs(numeric - analytic) <= 0.02 * Math.Abs(numeric) + 1e-3,
            $"directional derivative: autograd {analytic}, finite difference {numeric}");

        // The forward without autograd (in-place GELU, scaling and reused dequantization memory) computes the same.
        using (no_grad())
            TensorAssert.Close(output.detach(), Forward(img), 1e-5 * output.abs().max().item<float>(), "forward without autograd");
    }
}
