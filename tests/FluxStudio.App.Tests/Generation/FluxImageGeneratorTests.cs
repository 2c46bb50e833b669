using FluxStudio.Engine.Tests;
using FluxStudio.Engine;
using FluxStudio.App.Generation;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Tests.Memory;
using FluxStudio.Engine.Models;
using GenerationStage = FluxStudio.Engine.Pipeline.GenerationStage;
using FluxStudio.Engine.TinyModel;
using Microsoft.Extensions.Logging.Abstractions;
using SkiaSharp;
using static TorchSharp.torch;

namespace FluxStudio.App.Tests.Generation;

/// <summary>The queue driving the real engine on tiny random models.</summary>
public sealed class FluxImageGeneratorTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly CancellationToken _ct = CancellationToken.None;
    private readonly string _schnell;
    private readonly string _dev;
    private readonly FluxImageGenerator _generator;
    private readonly ModelLocator _locator;
    private readonly ControlNetLocator _controlNets;
    private readonly StaticOptionsMonitor<EngineOptions> _options;

    public FluxImageGeneratorTests()
    {
        _schnell = Path.Combine(_sandbox.Root, "models", "schnell");
        _dev = Path.Combine(_sandbox.Root, "models", "dev");
        TinyModelWriter.Write(_schnell, dev: false, seed: 3);
        TinyModelWriter.Write(_dev, dev: true, seed: 4);
        var hub = HubSettings.Resolve(new ModelHubOptions { AllowDownload = false }, _ => null);
        (_locator, _controlNets) = (new ModelLocator(hub), new ControlNetLocator(hub));
        _options = new StaticOptionsMonitor<EngineOptions>(new EngineOptions
        {
            Device = "cpu", Precision = "fp32", Previews = true, ControlNetPath = ControlNetFixture.ControlNetFolder,
        });
        _generator = new FluxImageGenerator(_locator, _controlNets, _options, new StaticOptionsMonitor<StudioOptions>(_sandbox.Options),
            NullLogger<FluxImageGenerator>.Instance);
    }

    public void Dispose()
    {
        _generator.Dispose();
        _sandbox.Dispose();
    }

    private static readonly IProgress<GenerationProgress> NoProgress = new SynchronousProgress<GenerationProgress>(_ => { });

    private GenerationRequest Request(string path, long seed = 42) =>
        TestRequests.Small("a lighthouse at dusk") with { ModelPath = path, Seed = seed, Steps = 2 };

    private async Task<GeneratedImage> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress = null) =>
        await _generator.GenerateAsync(request, progress ?? NoProgress, _ct).SingleAsync(_ct);

    /// <summary>The ControlNet fixture's shared run: its prompt, seed, size, steps and guidance on the tiny pipeline model.</summary>
    private static GenerationRequest ControlNetRun => new()
    {
        Prompt = ControlNetFixture.Prompt, Model = FluxVariant.Dev, ModelPath = ControlNetFixture.PipelineModel, Seed = (long)ControlNetFixture.Seed,
        Width = ControlNetFixture.Width, Height = ControlNetFixture.Height, Steps = ControlNetFixture.Steps, Guidance = ControlNetFixture.Guidance,
    };

    [Fact]
    public async Task A_queued_job_runs_on_the_engine_and_lands_in_history_as_a_png()
    {
        var queue = _sandbox.CreateQueue(_generator);
        var job = await queue.EnqueueAsync(Request(_schnell), _ct);
        Assert.True(await queue.RunNextAsync("cpu", _ct));

        var done = await queue.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Done, done!.Status);
        var entry = await _sandbox.History.GetAsync(done.ImageId!.Value, _ct);
        Assert.NotNull(entry);
        using var bitmap = SKBitmap.Decode(entry.ImagePath);
        Assert.Equal((48, 32), (bitmap.Width, bitmap.Height));
        Assert.Equal("cpu", entry.Device);
        Assert.Equal("fp32", entry.Precision);
    }

    [Fact]
    public async Task The_model_is_loaded_once_and_again_only_when_the_model_changes()
    {
        var steps = new List<GenerationProgress>();
        var first = await GenerateAsync(Request(_schnell, 1), new SynchronousProgress<GenerationProgress>(steps.Add));
        var second = await GenerateAsync(Request(_schnell, 1), new SynchronousProgress<GenerationProgress>(steps.Add));
        Assert.Equal(1, _generator.LoadCount);
        Assert.Equal(first.Pixels!.Pixels, second.Pixels!.Pixels);
        var denoising = steps.Where(s => s.Stage == GenerationStage.Denoising && s.Step > 0).ToList();
        Assert.Equal([1, 2, 1, 2], denoising.Select(s => s.Step));
        Assert.All(denoising, s => Assert.NotNull(s.PreviewPng));
        // Loading is announced once, for the one load; then each image encodes, denoises and decodes.
        Assert.Single(steps, s => s.Stage == GenerationStage.LoadingModel);
        Assert.Equal(2, steps.Count(s => s.Stage == GenerationStage.Decoding));

        await GenerateAsync(Request(_schnell, 2));
        Assert.Equal(1, _generator.LoadCount);
        await GenerateAsync(Request(_dev) with { Model = FluxVariant.Dev });
        Assert.Equal(2, _generator.LoadCount);
        Assert.Equal("dev", _generator.LoadedModel!.ModelAlias);
        await GenerateAsync(Request(_dev) with { Model = FluxVariant.Dev, Quantize = 8 });
        Assert.Equal(3, _generator.LoadCount);
        Assert.Equal(8, _generator.LoadedModel!.Quantize);
    }

    [Fact]
    public async Task The_ControlNet_is_attached_without_reloading_the_model_and_freed_when_a_request_does_not_use_it()
    {
        var run = ControlNetFixture.RunNames[0];
        var (convention, strength) = ControlNetFixture.RunSettings(run);
        var plain = await GenerateAsync(ControlNetRun);
        Assert.Null(_generator.LoadedControlNet);

        var guided = await GenerateAsync(ControlNetRun with
        {
            ControlNetImagePath = ControlNetFixture.ControlImage, ControlNetStrength = strength,
            ControlNetEncoding = Enum.Parse<Engine.ControlNet.ControlNetEncoding>(convention, ignoreCase: true),
        });
        Assert.Equal(1, _generator.LoadCount);
        Assert.Equal(Path.GetFullPath(ControlNetFixture.ControlNetFolder), _generator.LoadedControlNet);
        AssertWithinOneLevel(ControlNetFixture.RunImage(run), guided.Pixels.Pixels);
        Assert.Equal(strength, guided.Run.ControlNet!.Strength, 6);

        var plainAgain = await GenerateAsync(ControlNetRun);
        Assert.Equal(1, _generator.LoadCount);
        Assert.Null(_generator.LoadedControlNet);
        Assert.Equal(plain.Pixels.Pixels, plainAgain.Pixels.Pixels);
    }

    [Fact]
    public async Task A_batch_encodes_the_prompt_once_and_makes_one_image_per_seed()
    {
        var stages = new List<GenerationProgress>();
        long[] seeds = [5, 6, 7];
        var images = await _generator.GenerateAsync(Request(_schnell) with { Seeds = seeds },
            new SynchronousProgress<GenerationProgress>(stages.Add), _ct).ToListAsync(_ct);

        Assert.Equal(seeds, images.Select(image => (long)image.Run.Seed));
        Assert.Single(stages, stage => stage.Stage == GenerationStage.EncodingPrompt);
        Assert.Equal([1, 2, 3], stages.Where(stage => stage.Stage == GenerationStage.Decoding).Select(stage => stage.Image));
        Assert.All(stages.Where(stage => stage.Stage != GenerationStage.LoadingModel), stage => Assert.Equal(seeds.Length, stage.Images));
        var single = await GenerateAsync(Request(_schnell, seeds[1]));
        Assert.Equal(single.Pixels.Pixels, images[1].Pixels.Pixels);
    }

    [Fact]
    public async Task Image_to_image_starts_from_the_picture()
    {
        var picture = ControlNetFixture.ControlImage;
        var plain = await GenerateAsync(ControlNetRun);
        var fromPicture = await GenerateAsync(ControlNetRun with { InitImagePath = picture, ImageStrength = 0.5 });
        var atZero = await GenerateAsync(ControlNetRun with { InitImagePath = picture, ImageStrength = 0 });

        Assert.Equal(new Engine.Pipeline.InitImageRun(0.5, Math.Max(1, (int)Math.Floor(ControlNetFixture.Steps * 0.5))), fromPicture.Run.InitImage);
        Assert.NotEqual(plain.Pixels.Pixels, fromPicture.Pixels.Pixels);
        Assert.Equal(plain.Pixels.Pixels, atZero.Pixels.Pixels);
    }

    [Fact]
    public async Task A_job_sized_beyond_the_machine_is_refused_before_its_model_is_loaded()
    {
        // This machine, as far as the job can tell, has room for a 256 × 256 image and no more.
        var room = GenerationMemory.Estimate(ModelFootprint.Read(ModelLocator.FromDiffusersFolder(_schnell), ScalarType.Float32, null),
            new MemoryRequest(256, 256, LowMemory: true)).TotalBytes;
        using var generator = new FluxImageGenerator(_locator, _controlNets, _options, new StaticOptionsMonitor<StudioOptions>(_sandbox.Options),
            NullLogger<FluxImageGenerator>.Instance, new FixedMemory(room));
        var queue = _sandbox.CreateQueue(generator);

        var job = await queue.EnqueueAsync(Request(_schnell) with { Width = 2048, Height = 1024 }, _ct);
        await queue.RunNextAsync("cpu", _ct);

        var failed = await queue.GetAsync(job.Id, _ct);
        Assert.Equal(JobStatus.Failed, failed!.Status);
        Assert.Matches(@"^A 2048 × 1024 image needs about [0-9.]+ GB of memory and [0-9.]+ GB is available; it would fit at \d+ × \d+\.$", failed.Error);
        Assert.Equal(0, generator.LoadCount);
        Assert.False(Directory.Exists(_sandbox.OutputRoot) && Directory.EnumerateFileSystemEntries(_sandbox.OutputRoot).Any());
    }

    [Fact]
    public async Task Loras_apply_at_run_time_and_a_scale_change_needs_no_reload()
    {
        var fixtures = Fixtures.Path();
        Directory.CreateDirectory(_sandbox.LoraFolder);
        File.Copy(Path.Combine(fixtures, "lora-tiny", "lora_kohya.safetensors"), Path.Combine(_sandbox.LoraFolder, "kohya.safetensors"));
        var reference = TestRequests.Small("a photo of a cat wearing a tiny wizard hat") with
        {
            Model = FluxVariant.Dev, ModelPath = Path.Combine(fixtures, "pipeline-tiny", "model"), Seed = 42, Steps = 4, Guidance = 3.5,
        };

        var withLora = await GenerateAsync(reference with { Loras = [new LoraSelection("kohya.safetensors", 1.0)] });
        AssertWithinOneLevel(Path.Combine(fixtures, "lora-tiny", "runs", "kohya-1.0", "image.png"), withLora.Pixels!.Pixels);

        var atZero = await GenerateAsync(reference with { Loras = [new LoraSelection("kohya.safetensors", 0.0)] });
        AssertWithinOneLevel(Path.Combine(fixtures, "pipeline-tiny", "runs", "a1", "image.png"), atZero.Pixels!.Pixels);
        Assert.Equal(1, _generator.LoadCount);
    }

    private static void AssertWithinOneLevel(string expectedPng, byte[] actual)
    {
        using var bitmap = SKBitmap.Decode(expectedPng);
        for (int y = 0, i = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++, i += 3)
            {
                var pixel = bitmap.GetPixel(x, y);
                Assert.InRange(Math.Abs(pixel.Red - actual[i]), 0, 1);
                Assert.InRange(Math.Abs(pixel.Green - actual[i + 1]), 0, 1);
                Assert.InRange(Math.Abs(pixel.Blue - actual[i + 2]), 0, 1);
            }
    }
}
