using FluxStudio.Engine.Models;
using System.Text.Json;
using FluxStudio.App.Generation;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace FluxStudio.App.Tests.Outputs;

public sealed class OutputStoreTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _sandbox.Dispose();

    [Fact]
    public async Task Images_are_named_by_local_time_and_seed_under_the_output_root()
    {
        var entry = await _sandbox.SaveImageAsync("named", seed: 31337);

        Assert.Equal(Path.Combine(_sandbox.Root, "outputimage", "20250314_150926_31337.png"), entry.ImagePath);
        Assert.True(File.Exists(entry.ImagePath));
        Assert.Null(entry.MetadataPath);
        Assert.Single(Directory.EnumerateFiles(_sandbox.OutputRoot));
    }

    [Fact]
    public async Task The_output_root_is_configurable()
    {
        var custom = Path.Combine(_sandbox.Root, "elsewhere", "pictures");
        using var sandbox = new StudioSandbox(Path.Combine(_sandbox.Root, "other"), o => o.OutputRoot = custom);

        var entry = await sandbox.SaveImageAsync("custom root");

        Assert.Equal(custom, Path.GetDirectoryName(entry.ImagePath));
    }

    [Fact]
    public async Task Images_landing_in_the_same_second_with_the_same_seed_get_unique_names()
    {
        var saves = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => _sandbox.SaveImageAsync("same second", seed: 5))));

        var names = saves.Select(e => Path.GetFileName(e.ImagePath)).Order().ToList();
        Assert.Equal(["20250314_150926_5-2.png", "20250314_150926_5-3.png", "20250314_150926_5-4.png",
            "20250314_150926_5-5.png", "20250314_150926_5-6.png", "20250314_150926_5.png"], names);
        Assert.Equal(6, Directory.EnumerateFiles(_sandbox.OutputRoot).Count());
    }

    [Fact]
    public async Task A_file_already_there_is_never_overwritten()
    {
        Directory.CreateDirectory(_sandbox.OutputRoot);
        var foreign = Path.Combine(_sandbox.OutputRoot, "20250314_150926_42.png");
        await File.WriteAllTextAsync(foreign, "someone else's file");

        var entry = await _sandbox.SaveImageAsync("mine", seed: 42);

        Assert.Equal("20250314_150926_42-2.png", Path.GetFileName(entry.ImagePath));
        Assert.Equal("someone else's file", await File.ReadAllTextAsync(foreign));
    }

    [Fact]
    public async Task The_png_carries_an_A1111_parameters_chunk_that_an_independent_parser_reads()
    {
        var request = TestRequests.Small("a red fox in the snow, golden hour") with { Model = FluxVariant.Dev, Steps = 8, Seed = 123, Quantize = 8 };
        var entry = await _sandbox.SaveAsync(request);
        var png = await File.ReadAllBytesAsync(entry.ImagePath);

        var chunks = PngChunkReader.ReadChunks(png);
        Assert.All(chunks, c => Assert.Equal(c.ComputedCrc, c.StoredCrc));
        Assert.Equal("IHDR", chunks[0].Type);
        Assert.Equal("IEND", chunks[^1].Type);
        Assert.True(chunks.FindIndex(c => c.Type == "tEXt") < chunks.FindIndex(c => c.Type == "IDAT"));

        var parameters = PngChunkReader.ReadText(png)["parameters"];
        var lines = parameters.Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal("a red fox in the snow, golden hour", lines[0]);
        Assert.StartsWith("Steps: 8, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 123, Size: 48x32, Model: flux1-dev, Quantize: 8,", lines[1]);
        Assert.Contains("Version: FluxStudio ", lines[1]);
    }

    [Fact]
    public async Task A_prompt_beyond_Latin1_goes_into_an_iTXt_chunk()
    {
        var entry = await _sandbox.SaveImageAsync("桜の木の下の猫 🐱");
        var png = await File.ReadAllBytesAsync(entry.ImagePath);

        Assert.Contains(PngChunkReader.ReadChunks(png), c => c.Type == "iTXt" && c.StoredCrc == c.ComputedCrc);
        Assert.StartsWith("桜の木の下の猫 🐱\nSteps: 4,", PngChunkReader.ReadText(png)["parameters"]);
    }

    [Fact]
    public async Task The_saved_png_decodes_to_the_generated_pixels()
    {
        var request = TestRequests.Small();
        var image = FakeImageGenerator.Render(request, "cpu");
        var entry = await _sandbox.SaveAsync(request);

        using var bitmap = SKBitmap.Decode(entry.ImagePath);

        Assert.Equal((48, 32), (bitmap.Width, bitmap.Height));
        foreach (var (x, y) in new[] { (0, 0), (47, 0), (10, 20), (47, 31) })
        {
            var i = (y * 48 + x) * 3;
            Assert.Equal(new SKColor(image.Pixels.Pixels[i], image.Pixels.Pixels[i + 1], image.Pixels.Pixels[i + 2]), bitmap.GetPixel(x, y));
        }
    }

    [Fact]
    public async Task The_encoded_png_is_stored_byte_for_byte_with_its_chunk()
    {
        var request = TestRequests.Small();
        var run = FakeImageGenerator.Render(request, "cpu").Run;
        var record = GenerationRecord.Describe(request, run, _sandbox.Time.GetLocalNow());
        var encoded = OutputStore.EncodePng(record, run.Image);

        var entry = await _sandbox.Outputs.SaveAsync(record, new ImageFiles(encoded), metadata: false, _ct);

        var png = await File.ReadAllBytesAsync(entry.ImagePath);
        Assert.Equal(encoded, png);
        Assert.Equal(Infotext.Format(record), PngChunkReader.ReadText(png)["parameters"]);
    }

    [Fact]
    public async Task With_metadata_on_a_sidecar_with_mflux_field_names_is_written()
    {
        Directory.CreateDirectory(_sandbox.LoraFolder);
        File.WriteAllBytes(Path.Combine(_sandbox.LoraFolder, "ink.safetensors"), [0]);
        var request = TestRequests.Small("ink drawing") with
        {
            Model = FluxVariant.Dev, Seed = 9, Guidance = 4, Quantize = 4, Metadata = true,
            Loras = [new LoraSelection("ink.safetensors", 0.9)],
        };
        var generation = _sandbox.CreateGeneration(null, services => services.AddKeyedSingleton<IImageGenerator>("cuda:0", new FakeImageGenerator()));
        var outcome = await generation.GenerateAsync(request, new GenerationOutput { Device = "cuda:0" },
            new Progress<GenerationProgress>(), _ct).SingleAsync();
        var entry = outcome.Record;

        Assert.Equal(Path.ChangeExtension(entry.ImagePath, ".json"), entry.MetadataPath);
        using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(entry.MetadataPath!));
        var root = json.RootElement;
        string[] expected = ["model", "seed", "steps", "guidance", "precision", "quantize", "generation_time_seconds", "lora_paths",
            "lora_scales", "controlnet_image_path", "controlnet_strength", "prompt", "fluxstudio_version"];
        Assert.All(expected, name => Assert.True(root.TryGetProperty(name, out _), $"missing {name}"));
        Assert.Equal("dev", root.GetProperty("model").GetString());
        Assert.Equal(9, root.GetProperty("seed").GetInt64());
        Assert.Equal(20, root.GetProperty("steps").GetInt32());
        Assert.Equal(4.0, root.GetProperty("guidance").GetDouble());
        Assert.Equal("bfloat16", root.GetProperty("precision").GetString());
        Assert.Equal(4, root.GetProperty("quantize").GetInt32());
        Assert.Equal(1.25, root.GetProperty("generation_time_seconds").GetDouble());
        Assert.Equal(Path.Combine(_sandbox.LoraFolder, "ink.safetensors"), root.GetProperty("lora_paths")[0].GetString());
        Assert.Equal(0.9, root.GetProperty("lora_scales")[0].GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("controlnet_image_path").ValueKind);
        Assert.Equal("ink drawing", root.GetProperty("prompt").GetString());
        Assert.Equal(AppInfo.Version, root.GetProperty("fluxstudio_version").GetString());
    }

    [Fact]
    public async Task Writes_leave_no_temporary_files_behind()
    {
        await _sandbox.SaveImageAsync("one", metadata: true);
        await _sandbox.SaveImageAsync("two", metadata: true);

        Assert.All(Directory.EnumerateFiles(_sandbox.OutputRoot), f => Assert.Matches(@"\d{8}_\d{6}_42(-2)?\.(png|json)$", f));
    }
}
