using FluxStudio.Engine.Models;
using System.Text.Json;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Tests.Pipeline;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Lora;

/// <summary>The LoRA runs of tests/Fixtures/lora-tiny, through the pipeline with the LoRAs attached at run time.</summary>
public sealed class LoraGoldenTests : IClassFixture<PipelineTinyModel>
{
    private readonly FluxPipeline _pipeline;

    public LoraGoldenTests(PipelineTinyModel tiny) => _pipeline = new FluxPipeline(tiny.Model);

    public static TheoryData<string> Runs() =>
        ["peft-1.0", "peft_alpha-1.0", "kohya-1.0", "xlabs-1.0", "peft-0.5", "kohya-0.0", "kohya-0.8_xlabs-0.6"];

    private sealed record RunArgs(string Prompt, ulong Seed, int Width, int Height, int Steps, float Guidance, (string File, double Scale)[] Loras);

    private static RunArgs Args(string run)
    {
        var json = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("lora-tiny", "runs", run, "args.json"))).RootElement;
        var loras = json.GetProperty("loras").EnumerateArray()
            .Select(lora => (lora.GetProperty("file").GetString()!, lora.GetProperty("scale").GetDouble())).ToArray();
        return new RunArgs(json.GetProperty("prompt").GetString()!, json.GetProperty("seed").GetUInt64(), json.GetProperty("width").GetInt32(),
            json.GetProperty("height").GetInt32(), json.GetProperty("num_steps").GetInt32(), json.GetProperty("guidance").GetSingle(), loras);
    }

    private static SafetensorsFile Golden(string run) => SafetensorsFile.Open(Fixtures.Path("lora-tiny", "runs", run, "golden.safetensors"));

    private LoraSet Attach(RunArgs args)
    {
        var files = args.Loras.Select(lora => LoraFile.Load(Fixtures.Path("lora-tiny", lora.File), _pipeline.Model.Config)).ToList();
        try
        {
            foreach (var file in files) Assert.Empty(file.UnmatchedKeys);
            return LoraSet.Attach(_pipeline.Model.Transformer, files.Select((file, i) => (file, args.Loras[i].Scale)).ToList());
        }
        finally
        {
            foreach (var file in files) file.Dispose();
        }
    }

    private FluxGenerationResult Generate(RunArgs args) => _pipeline.Generate(new FluxGenerationOptions
    {
        Prompt = args.Prompt, Seed = args.Seed, Width = args.Width, Height = args.Height, Steps = args.Steps, Guidance = args.Guidance,
    });

    private static void AssertImageWithinOneLevel(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int offByOne = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int difference = Math.Abs(expected[i] - actual[i]);
            Assert.True(difference <= 1, $"value {i} is {actual[i]}, reference {expected[i]}");
            offByOne += difference;
        }
        Assert.True(offByOne <= expected.Length / 100, $"{offByOne} values are one level off");
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryStepMatchesTheReference(string run)
    {
        var args = Args(run);
        using var golden = Golden(run);
        using var set = Attach(args);
        using var scope = NewDisposeScope();

        var text = _pipeline.EncodePrompt(args.Prompt);
        var noise = _pipeline.PrepareNoise(args.Seed, args.Width, args.Height);
        var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
        var timesteps = _pipeline.Schedule(args.Steps, (int)(rows * columns));
        var final = EulerSampler.Denoise(_pipeline.Model.Transformer, LatentPacking.Pack(noise), LatentPacking.ImageIds(1, rows, columns),
            text, timesteps, args.Guidance, step =>
            {
                TensorAssert.Close(golden.Load($"step_{step.Step}.pred"), step.Prediction, 1e-4, $"step {step.Step} prediction");
                if (step.Step + 1 < step.Steps)
                    TensorAssert.Close(golden.Load($"step_{step.Step + 1}.img_in"), step.Latent, 1e-4, $"latent into step {step.Step + 1}");
            });
        TensorAssert.Close(golden.Load("final_packed"), final, 1e-4, "final packed latent");
        TensorAssert.Close(golden.Load("final_latent"), LatentPacking.Unpack(final, rows, columns), 1e-4, "final latent");
        TensorAssert.Close(golden.Load("decoded"), _pipeline.Decode(final, rows, columns), 1e-4, "decoded image");
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void GenerateReproducesTheReferenceImage(string run)
    {
        var args = Args(run);
        using var golden = Golden(run);
        using var set = Attach(args);
        var result = Generate(args);
        AssertImageWithinOneLevel(golden.Load("image_uint8").data<byte>().ToArray(), result.Image.Pixels);
    }

    [Fact]
    public void ChangingScalesBetweenGenerationsNeedsNoReload()
    {
        var transformer = _pipeline.Model.Transformer;
        var args = Args("kohya-0.8_xlabs-0.6");
        using var set = Attach(args with { Loras = [("lora_kohya.safetensors", 1.0), ("lora_xlabs.safetensors", 0.0)] });
        using (var golden = Golden("kohya-1.0"))
            AssertImageWithinOneLevel(golden.Load("image_uint8").data<byte>().ToArray(), Generate(args).Image.Pixels);

        set.SetScale(0, 0.8);
        set.SetScale(1, 0.6);
        using (var golden = Golden("kohya-0.8_xlabs-0.6"))
            AssertImageWithinOneLevel(golden.Load("image_uint8").data<byte>().ToArray(), Generate(args).Image.Pixels);

        set.SetScale(0, 0.0);
        set.SetScale(1, 0.0);
        var withoutLoras = Generate(args).Image.Pixels;
        set.Dispose();
        Assert.Equal(Generate(args).Image.Pixels, withoutLoras);
        Assert.Same(transformer, _pipeline.Model.Transformer);
    }

    [Fact]
    public void FusingMatchesTheReferenceMergedWeights()
    {
        using var transformer = LoraTestModel.Load();
        var args = Args("kohya-0.8_xlabs-0.6");
        var files = args.Loras.Select(lora => LoraFile.Load(Fixtures.Path("lora-tiny", lora.File), transformer.Config)).ToList();
        using (var set = LoraSet.Attach(transformer, files.Select((file, i) => (file, args.Loras[i].Scale)).ToList()))
            set.Fuse();
        foreach (var file in files) file.Dispose();

        using var merged = SafetensorsFile.Open(Fixtures.Path("lora-tiny", "runs", "kohya-0.8_xlabs-0.6", "merged_weights.safetensors"));
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.NotEmpty(merged.Names);
        foreach (var name in merged.Names)
            TensorAssert.Close(merged.Load(name), parameters[name], 1e-6, name);
    }
}
