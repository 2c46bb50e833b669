using FluxStudio.Engine.Models;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Pipeline;
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

    private static string RunFolder(string run) => Fixtures.Path("lora-tiny", "runs", run);

    private LoraSet Attach(GoldenRun args)
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

    private FluxGenerationResult Generate(GoldenRun args) => _pipeline.Generate(args.Options);

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryStepMatchesTheReference(string run)
    {
        var args = GoldenRun.Read(RunFolder(run));
        using var golden = GoldenRun.OpenGolden(RunFolder(run));
        using var set = Attach(args);
        using var scope = NewDisposeScope();

        var text = _pipeline.EncodePrompt(args.Prompt);
        var noise = _pipeline.PrepareNoise(args.Seed, args.Width, args.Height);
        var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
        var timesteps = _pipeline.Schedule(args.Steps, (int)(rows * columns));
        GoldenRun.AssertDenoisingMatches(_pipeline, golden, text, noise, timesteps, args.Guidance);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void GenerateReproducesTheReferenceImage(string run)
    {
        var args = GoldenRun.Read(RunFolder(run));
        using var golden = GoldenRun.OpenGolden(RunFolder(run));
        using var set = Attach(args);
        var result = Generate(args);
        GoldenRun.AssertImageWithinOneLevel(golden, result.Image.Pixels);
    }

    [Fact]
    public void ChangingScalesBetweenGenerationsNeedsNoReload()
    {
        var transformer = _pipeline.Model.Transformer;
        var args = GoldenRun.Read(RunFolder("kohya-0.8_xlabs-0.6"));
        using var set = Attach(args with { Loras = [("lora_kohya.safetensors", 1.0), ("lora_xlabs.safetensors", 0.0)] });
        using (var golden = GoldenRun.OpenGolden(RunFolder("kohya-1.0")))
            GoldenRun.AssertImageWithinOneLevel(golden, Generate(args).Image.Pixels);

        set.SetScale(0, 0.8);
        set.SetScale(1, 0.6);
        using (var golden = GoldenRun.OpenGolden(RunFolder("kohya-0.8_xlabs-0.6")))
            GoldenRun.AssertImageWithinOneLevel(golden, Generate(args).Image.Pixels);

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
        var args = GoldenRun.Read(RunFolder("kohya-0.8_xlabs-0.6"));
        var files = args.Loras.Select(lora => LoraFile.Load(Fixtures.Path("lora-tiny", lora.File), transformer.Config)).ToList();
        using (var set = LoraSet.Attach(transformer, files.Select((file, i) => (file, args.Loras[i].Scale)).ToList()))
            set.Fuse();
        foreach (var file in files) file.Dispose();

        using var merged = SafetensorsFile.Open(Path.Combine(RunFolder("kohya-0.8_xlabs-0.6"), "merged_weights.safetensors"));
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.NotEmpty(merged.Names);
        foreach (var name in merged.Names)
            TensorAssert.Close(merged.Load(name), parameters[name], 1e-6, name);
    }
}
