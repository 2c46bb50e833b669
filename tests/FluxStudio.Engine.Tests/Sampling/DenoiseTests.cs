using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Sampling;

public sealed class DenoiseTests
{
    private static string Tiny(params string[] parts) => Fixtures.Path(["flux-tiny", .. parts]);

    private static FluxTransformer LoadTinyDev() =>
        FluxTransformer.Load(Tiny("transformer_bfl", "flux1-tiny.safetensors"), paramsJson: Tiny("transformer_bfl", "config.json"));

    [Fact]
    public void PackingMatchesTheReferenceAndUnpackingInvertsIt()
    {
        using var golden = SafetensorsFile.Open(Tiny("forward.safetensors"));
        using var latent = golden.Load("latent");
        using var packed = LatentPacking.Pack(latent);
        TensorAssert.Identical(golden.Load("img"), packed, "packed latent");
        TensorAssert.Identical(golden.Load("img_ids"), LatentPacking.ImageIds(2, 6, 10), "image ids");
        TensorAssert.Identical(latent, LatentPacking.Unpack(packed, 6, 10), "unpacked latent");
    }

    [Fact]
    public void FourStepDevRunReproducesEveryStep()
    {
        using var golden = SafetensorsFile.Open(Tiny("denoise.safetensors"));
        using var model = LoadTinyDev();

        var timesteps = FlowMatchSchedule.Timesteps(4, 60, shift: true);
        Assert.Equal(golden.Load("timesteps").data<double>().ToArray(), timesteps.Select(t => (double)t));
        TensorAssert.Identical(golden.Load("img"), LatentPacking.Pack(golden.Load("noise")), "packed noise");

        var text = new TextConditioning(golden.Load("txt"), golden.Load("txt_ids"), golden.Load("vec"));
        var seenSteps = new List<int>();
        var result = EulerSampler.Denoise(model, golden.Load("img"), golden.Load("img_ids"), text, timesteps, guidance: 3.5f,
            afterStep: step =>
            {
                seenSteps.Add(step.Step);
                Assert.Equal(golden.Load($"step_{step.Step}.t_vec").item<float>(), step.Timestep);
                TensorAssert.Close(golden.Load($"step_{step.Step}.pred"), step.Prediction, 1e-4, $"step {step.Step} prediction");
                if (step.Step + 1 < step.Steps)
                    TensorAssert.Close(golden.Load($"step_{step.Step + 1}.img_in"), step.Latent, 1e-4, $"latent entering step {step.Step + 1}");
            });

        Assert.Equal([0, 1, 2, 3], seenSteps);
        TensorAssert.Close(golden.Load("final_packed"), result, 1e-4, "final packed latent");
        TensorAssert.Close(golden.Load("final_latent"), LatentPacking.Unpack(result, 6, 10), 1e-4, "final latent");
    }

    [Fact]
    public void CancellationStopsBeforeTheNextStep()
    {
        using var golden = SafetensorsFile.Open(Tiny("denoise.safetensors"));
        using var model = LoadTinyDev();
        using var cancellation = new CancellationTokenSource();
        int steps = 0;
        var text = new TextConditioning(golden.Load("txt"), golden.Load("txt_ids"), golden.Load("vec"));
        Assert.Throws<OperationCanceledException>(() => EulerSampler.Denoise(model, golden.Load("img"), golden.Load("img_ids"),
            text, FlowMatchSchedule.Timesteps(4, 60, true), 3.5f, _ => { if (++steps == 2) cancellation.Cancel(); },
            cancellation.Token));
        Assert.Equal(2, steps);
    }
}
