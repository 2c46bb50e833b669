using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>The whole chain against the reference pipeline's runs in tests/Fixtures/pipeline-tiny.</summary>
public sealed class FluxPipelineGoldenTests : IClassFixture<PipelineTinyModel>
{
    private readonly FluxPipeline _pipeline;

    public FluxPipelineGoldenTests(PipelineTinyModel tiny) => _pipeline = new FluxPipeline(tiny.Model);

    public static TheoryData<string> Runs() => ["a1", "a2", "a3"];

    private static string RunFolder(string run) => Fixtures.Path("pipeline-tiny", "runs", run);

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryStageMatchesTheReference(string run)
    {
        var args = GoldenRun.Read(RunFolder(run));
        using var golden = GoldenRun.OpenGolden(RunFolder(run));
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

        GoldenRun.AssertDenoisingMatches(_pipeline, golden, text, noise, timesteps, args.Guidance);

        var fromGoldenDecode = ImageConversion.ToRgb(golden.Load("decoded"));
        Assert.Equal(golden.Load("image_uint8").data<byte>().ToArray(), fromGoldenDecode.Pixels);
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void GenerateReproducesTheReferenceImage(string run)
    {
        var args = GoldenRun.Read(RunFolder(run));
        using var golden = GoldenRun.OpenGolden(RunFolder(run));
        var steps = new List<GenerationProgress>();
        var result = _pipeline.Generate(args.Options, new SynchronousProgress<GenerationProgress>(steps.Add));

        Assert.Equal((args.Width, args.Height), (result.Image.Width, result.Image.Height));
        GoldenRun.AssertImageWithinOneLevel(golden, result.Image.Pixels);
        Assert.Equal(args.Seed, result.Seed);
        Assert.Equal(Enumerable.Range(1, args.Steps), steps.Where(p => p.Stage == GenerationStage.Denoising && p.Step > 0).Select(p => p.Step));
        Assert.Equal(GenerationStage.Done, steps[^1].Stage);
    }
}
