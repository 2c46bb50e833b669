using System.Text.Json;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>The whole chain against the reference pipeline's runs in tests/Fixtures/pipeline-tiny.</summary>
public sealed class FluxPipelineGoldenTests : IClassFixture<PipelineTinyModel>
{
    private readonly FluxPipeline _pipeline;

    public FluxPipelineGoldenTests(PipelineTinyModel tiny) => _pipeline = new FluxPipeline(tiny.Model);

    public static TheoryData<string> Runs() => ["a1", "a2", "a3"];

    private sealed record RunArgs(string Prompt, ulong Seed, int Width, int Height, int Steps, float Guidance);

    private static RunArgs Args(string run)
    {
        var json = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("pipeline-tiny", "runs", run, "args.json"))).RootElement;
        return new RunArgs(json.GetProperty("prompt").GetString()!, json.GetProperty("seed").GetUInt64(), json.GetProperty("width").GetInt32(),
            json.GetProperty("height").GetInt32(), json.GetProperty("num_steps").GetInt32(), json.GetProperty("guidance").GetSingle());
    }

    private static SafetensorsFile Golden(string run) => SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "runs", run, "golden.safetensors"));

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryStageMatchesTheReference(string run)
    {
        var args = Args(run);
        using var golden = Golden(run);
        using var scope = NewDisposeScope();

        Assert.Equal(golden.Load("clip_ids").data<long>().ToArray(), _pipeline.Model.Tokenizers.Clip.Encode(args.Prompt));
        Assert.Equal(golden.Load("t5_ids").data<long>().ToArray(), _pipeline.Model.Tokenizers.T5.Encode(args.Prompt, 512));
        var text = _pipeline.EncodePrompt(args.Prompt);
        TensorAssert.Close(golden.Load("vec"), text.Pooled, 1e-5, "pooled CLIP vector");
        TensorAssert.Close(golden.Load("txt"), text.Features, 3e-4, "T5 features");

        var noise = _pipeline.PrepareNoise(args.Seed, args.Width, args.Height);
        TensorAssert.Identical(golden.Load("noise"), noise, "noise");
        var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
        TensorAssert.Identical(golden.Load("img"), LatentPacking.Pack(noise), "packed noise");
        TensorAssert.Identical(golden.Load("img_ids"), LatentPacking.ImageIds(1, rows, columns), "image ids");
        var timesteps = _pipeline.Schedule(args.Steps, (int)(rows * columns));
        Assert.Equal(golden.Load("timesteps").data<double>().ToArray(), timesteps.Select(t => (double)t));

        var final = EulerSampler.Denoise(_pipeline.Model.Transformer, LatentPacking.Pack(noise), LatentPacking.ImageIds(1, rows, columns),
            text, timesteps, args.Guidance, step =>
            {
                TensorAssert.Close(golden.Load($"step_{step.Step}.pred"), step.Prediction, 1e-4, $"step {step.Step} prediction");
                if (step.Step + 1 < step.Steps)
                    TensorAssert.Close(golden.Load($"step_{step.Step + 1}.img_in"), step.Latent, 1e-4, $"latent into step {step.Step + 1}");
            });
        TensorAssert.Close(golden.Load("final_packed"), final, 1e-4, "final packed latent");
        TensorAssert.Close(golden.Load("final_latent"), LatentPacking.Unpack(final, rows, columns), 1e-4, "final latent");
        var decoded = _pipeline.Decode(final, rows, columns);
        TensorAssert.Close(golden.Load("decoded"), decoded, 1e-4, "decoded image");

        var fromGoldenDecode = ImageConversion.ToRgb(golden.Load("decoded"));
        Assert.Equal(golden.Load("image_uint8").data<byte>().ToArray(), fromGoldenDecode.Pixels);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void GenerateReproducesTheReferenceImage(string run)
    {
        var args = Args(run);
        using var golden = Golden(run);
        var steps = new List<GenerationProgress>();
        var result = _pipeline.Generate(new FluxGenerationOptions
        {
            Prompt = args.Prompt, Seed = args.Seed, Width = args.Width, Height = args.Height, Steps = args.Steps, Guidance = args.Guidance,
        }, new SynchronousProgress<GenerationProgress>(steps.Add));

        Assert.Equal((args.Width, args.Height), (result.Image.Width, result.Image.Height));
        var expected = golden.Load("image_uint8").data<byte>().ToArray();
        int offByOne = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int difference = Math.Abs(expected[i] - result.Image.Pixels[i]);
            Assert.True(difference <= 1, $"value {i} is {result.Image.Pixels[i]}, reference {expected[i]}");
            offByOne += difference;
        }
        Assert.True(offByOne <= expected.Length / 100, $"{offByOne} values are one level off");
        Assert.Equal(args.Seed, result.Seed);
        Assert.Equal(Enumerable.Range(1, args.Steps), steps.Where(p => p.Stage == GenerationStage.Denoising && p.Step > 0).Select(p => p.Step));
        Assert.Equal(GenerationStage.Done, steps[^1].Stage);
    }
}
