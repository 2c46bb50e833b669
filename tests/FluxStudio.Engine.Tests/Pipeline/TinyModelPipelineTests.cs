using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>End-to-end behaviour on tiny random models written by <see cref="TinyModelWriter"/>.</summary>
public sealed class TinyModelPipelineTests : IClassFixture<TinyModelPipelineTests.TinyModels>
{
    public sealed class TinyModels : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("fluxstudio-tiny-").FullName;
        public LoadedFluxModel Dev { get; }
        public LoadedFluxModel Schnell { get; }

        public TinyModels()
        {
            TinyModelWriter.Write(Path.Combine(Root, "dev"), dev: true, seed: 1);
            TinyModelWriter.Write(Path.Combine(Root, "schnell"), dev: false, seed: 2);
            Dev = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(Path.Combine(Root, "dev")), ComputeTarget.Cpu, lowMemory: false);
            Schnell = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(Path.Combine(Root, "schnell")), ComputeTarget.Cpu, lowMemory: true);
        }

        public void Dispose()
        {
            Dev.Dispose();
            Schnell.Dispose();
            Directory.Delete(Root, recursive: true);
        }
    }

    private readonly TinyModels _models;

    public TinyModelPipelineTests(TinyModels models) => _models = models;

    private static FluxGenerationOptions Options(ulong seed) => new() { Prompt = "a tiny red fox", Seed = seed, Width = 32, Height = 24, Steps = 3 };

    [Fact]
    public void WrittenModelsAreCompleteDiffusersFolders()
    {
        foreach (var variant in new[] { "dev", "schnell" })
            Assert.Empty(DiffusersFolder.FindMissingParts(Path.Combine(_models.Root, variant)));
        Assert.True(_models.Dev.IsGuidanceDistilled);
        Assert.False(_models.Schnell.IsGuidanceDistilled);
        Assert.Equal(4, new FluxPipeline(_models.Dev).SizeMultiple);
    }

    [Fact]
    public void TheSameSeedGivesIdenticalPixelsAndOtherSeedsDiffer()
    {
        var pipeline = new FluxPipeline(_models.Dev);
        var first = pipeline.Generate(Options(42));
        var again = pipeline.Generate(Options(42));
        var other = pipeline.Generate(Options(43));
        Assert.Equal(first.Image.Pixels, again.Image.Pixels);
        Assert.NotEqual(first.Image.Pixels, other.Image.Pixels);
        Assert.Equal(3.5f, first.Guidance);
        Assert.Equal("cpu", first.Device);
        Assert.Equal("fp32", first.Precision);
    }

    [Fact]
    public void SeedZeroPicksARandomSeedAndReportsIt()
    {
        var pipeline = new FluxPipeline(_models.Schnell);
        var result = pipeline.Generate(Options(0));
        Assert.InRange(result.Seed, 1UL, (1UL << 32) - 1);
        Assert.Equal(result.Image.Pixels, pipeline.Generate(Options(result.Seed)).Image.Pixels);
    }

    [Fact]
    public void TheResultSaysWhatRanAsReadFromTheWeights()
    {
        var schnell = new FluxPipeline(_models.Schnell).Generate(Options(3) with { Steps = null });
        var dev = new FluxPipeline(_models.Dev).Generate(Options(3) with { Steps = null });

        Assert.Equal((FluxVariant.Schnell, 4, (float?)null), (schnell.Variant, schnell.Steps, schnell.Guidance));
        Assert.Equal((FluxVariant.Dev, 20, (float?)FluxVariants.DefaultGuidance), (dev.Variant, dev.Steps, dev.Guidance));
        Assert.Equal((32, 24, (int?)null), (dev.Width, dev.Height, dev.QuantizationBits));
        Assert.Empty(dev.Loras);
    }

    [Fact]
    public void SchnellIgnoresGuidanceWithAWarningAndDefaultsToFourSteps()
    {
        var result = new FluxPipeline(_models.Schnell).Generate(Options(7) with { Guidance = 5, Steps = null });
        Assert.Null(result.Guidance);
        Assert.Equal(4, result.Steps);
        Assert.Contains(result.Warnings, w => w.Contains("guidance value was ignored"));
    }

    [Fact]
    public void CancellationStopsWithinOneStep()
    {
        using var cancellation = new CancellationTokenSource();
        var seen = new List<int>();
        var progress = new SynchronousProgress<GenerationProgress>(p =>
        {
            if (p.Stage != GenerationStage.Denoising || p.Step == 0) return;
            seen.Add(p.Step);
            if (p.Step == 2) cancellation.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new FluxPipeline(_models.Dev).Generate(Options(5) with { Steps = 6 }, progress, cancellation.Token));
        Assert.Equal([1, 2], seen);
    }

    [Fact]
    public void PreviewsComeWithEveryStepWhenAskedFor()
    {
        var previews = new List<RgbImage>();
        new FluxPipeline(_models.Dev).Generate(Options(9) with { Previews = true },
            new SynchronousProgress<GenerationProgress>(p => { if (p.Preview != null) previews.Add(p.Preview); }));
        Assert.Equal(3, previews.Count);
        Assert.All(previews, p => Assert.Equal((16, 12), (p.Width, p.Height)));
    }

    [Theory]
    [InlineData(30, 24, "Width must be a multiple of 4; 30 is not. Try 28 or 32.")]
    [InlineData(32, 0, "Height must be a positive multiple of 4 pixels")]
    [InlineData(4100, 24, "Width 4100 is larger than the maximum of 4096 pixels.")]
    public void InvalidSizesAreRefusedWithTheRule(int width, int height, string message)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new FluxPipeline(_models.Dev).Generate(Options(1) with { Width = width, Height = height }));
        Assert.Contains(message, error.Message);
    }
}
