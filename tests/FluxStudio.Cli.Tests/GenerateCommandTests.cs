using System.Globalization;
using FluxStudio.Cli.Commands;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Tests;
using System.Text.Json;
using SkiaSharp;

namespace FluxStudio.Cli.Tests;

public sealed class GenerateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-cli-gen-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Rgb(string png)
    {
        using var bitmap = SKBitmap.Decode(png);
        var rgb = new byte[bitmap.Width * bitmap.Height * 3];
        for (int y = 0, i = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++, i += 3)
            {
                var pixel = bitmap.GetPixel(x, y);
                (rgb[i], rgb[i + 1], rgb[i + 2]) = (pixel.Red, pixel.Green, pixel.Blue);
            }
        return rgb;
    }

    /// <summary>`generate` on the tiny reference model with a reference run's prompt, seed, size, steps and guidance.</summary>
    private static string[] ReferenceRunArguments(string fixtures, JsonElement args) =>
    [
        "generate", "--path", Path.Combine(fixtures, "pipeline-tiny", "model"),
        "--prompt", args.GetProperty("prompt").GetString()!, "--seed", args.GetProperty("seed").GetUInt64().ToString(),
        "--width", args.GetProperty("width").GetInt32().ToString(), "--height", args.GetProperty("height").GetInt32().ToString(),
        "--steps", args.GetProperty("num_steps").GetInt32().ToString(), "--guidance", args.GetProperty("guidance").GetDouble().ToString(),
    ];

    public static TheoryData<string> Runs() => ["a1", "a2", "a3"];

    [Theory]
    [MemberData(nameof(Runs))]
    public async Task ReproducesTheReferencePipelinesImages(string run)
    {
        var fixtures = Fixtures.Path();
        var args = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "pipeline-tiny", "runs", run, "args.json"))).RootElement;
        var output = Path.Combine(_dir, $"{run}.png");
        var result = await CliProcess.RunAsync([.. ReferenceRunArguments(fixtures, args), "--dtype", "fp32", "--device", "cpu", "--output", output]);

        Assert.True(result.ExitCode == 0, result.StandardError);
        var expected = Rgb(Path.Combine(fixtures, "pipeline-tiny", "runs", run, "image.png"));
        var actual = Rgb(output);
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1));
    }

    public static TheoryData<string> LoraRuns() =>
        [.. Directory.GetDirectories(Path.Combine(Fixtures.Path(), "lora-tiny", "runs")).Select(d => Path.GetFileName(d)!).Order()];

    [Theory]
    [MemberData(nameof(LoraRuns))]
    public async Task ReproducesEveryReferenceLoraRun(string run)
    {
        var fixtures = Fixtures.Path();
        var args = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "lora-tiny", "runs", run, "args.json"))).RootElement;
        var loras = args.GetProperty("loras").EnumerateArray().ToList();
        var output = Path.Combine(_dir, $"{run}.png");
        var result = await CliProcess.RunAsync([
            .. ReferenceRunArguments(fixtures, args),
            "--lora-paths", .. loras.Select(l => Path.Combine(fixtures, "lora-tiny", l.GetProperty("file").GetString()!)),
            "--lora-scales", .. loras.Select(l => l.GetProperty("scale").GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "--device", "cpu", "--dtype", "fp32", "--output", output]);

        Assert.True(result.ExitCode == 0, result.StandardError);
        var expected = Rgb(Path.Combine(fixtures, "lora-tiny", "runs", run, "image.png"));
        var actual = Rgb(output);
        Assert.All(expected.Zip(actual), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1));
    }

    [Fact]
    public async Task MakeTinyModelThenGenerateWritesAValidPngWithItsSettings()
    {
        var model = Path.Combine(_dir, "tiny");
        var made = await CliProcess.RunAsync("make-tiny-model", model, "--variant", "schnell", "--seed", "5");
        Assert.True(made.ExitCode == 0, made.StandardError);

        var output = Path.Combine(_dir, "out", "fox.png");
        var result = await CliProcess.RunAsync("generate", "--path", model, "--prompt", "a fox", "--seed", "11", "--seed", "12",
            "--width", "32", "--height", "24", "--output", output, "--metadata");
        Assert.True(result.ExitCode == 0, result.StandardError);
        foreach (var seed in new[] { 11, 12 })
        {
            var png = Path.Combine(_dir, "out", $"fox_seed_{seed}.png");
            using var bitmap = SKBitmap.Decode(png);
            Assert.Equal((32, 24), (bitmap.Width, bitmap.Height));
            var metadata = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(png, ".json"))).RootElement;
            Assert.Equal(seed, metadata.GetProperty("seed").GetInt64());
            Assert.Equal("schnell", metadata.GetProperty("model").GetString());
            Assert.Equal(4, metadata.GetProperty("steps").GetInt32());
        }
        Assert.NotEqual(Rgb(Path.Combine(_dir, "out", "fox_seed_11.png")), Rgb(Path.Combine(_dir, "out", "fox_seed_12.png")));
    }

    [Fact]
    public async Task SaveWritesAQuantizedModelThatGenerateLoadsAtItsOwnBitWidth()
    {
        var model = Path.Combine(_dir, "tiny");
        await CliProcess.RunAsync("make-tiny-model", model, "--variant", "dev");
        var quantized = Path.Combine(_dir, "tiny-q8");
        var saved = await CliProcess.RunAsync("save", "--from", model, "-q", "8", "--path", quantized);
        Assert.True(saved.ExitCode == 0, saved.StandardError);

        var fromSaved = Path.Combine(_dir, "saved.png");
        var fromDense = Path.Combine(_dir, "at-load.png");
        var first = await CliProcess.RunAsync("generate", "--path", quantized, "--prompt", "a fox", "--seed", "3",
            "--width", "32", "--height", "24", "--steps", "2", "--output", fromSaved, "--metadata");
        var second = await CliProcess.RunAsync("generate", "--path", model, "-q", "8", "--prompt", "a fox", "--seed", "3",
            "--width", "32", "--height", "24", "--steps", "2", "--output", fromDense);
        Assert.True(first.ExitCode == 0, first.StandardError);
        Assert.True(second.ExitCode == 0, second.StandardError);
        Assert.Equal(8, JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(fromSaved, ".json"))).RootElement.GetProperty("quantize").GetInt32());
        // Quantizing at load and loading the saved quantized model give the same weights, so the same pixels.
        Assert.Equal(Rgb(fromDense), Rgb(fromSaved));
    }

    [Fact]
    public async Task A512By512ImageOnATinyModelPeaksUnderTwoAndAHalfGigabytes()
    {
        // Attention that held a pixels × pixels matrix made this 16 GiB in the VAE alone.
        var model = Path.Combine(_dir, "tiny");
        Assert.Equal(0, (await CliProcess.RunAsync("make-tiny-model", model)).ExitCode);
        var output = Path.Combine(_dir, "large.png");

        var result = await CliProcess.RunAsync("generate", "--path", model, "--prompt", "a lighthouse at dusk", "--seed", "7",
            "--width", "512", "--height", "512", "--steps", "4", "--dtype", "fp32", "--device", "cpu", "--output", output);

        Assert.True(result.ExitCode == 0, result.StandardError);
        using (var bitmap = SKBitmap.Decode(output))
            Assert.Equal((512, 512), (bitmap.Width, bitmap.Height));
        // The largest peak of any ended child of this test process, this run's included.
        if (ChildProcessMemory.LargestPeakBytes() is { } peak)
            Assert.True(peak < 2.5e9, $"a child process peaked at {peak / 1e9:F2} GB");
    }

    [Fact]
    public async Task AGenerationSizedBeyondTheMachineIsRefusedBeforeLoadingInTheCommandLinesTerms()
    {
        var model = Path.Combine(_dir, "tiny");
        Assert.Equal(0, (await CliProcess.RunAsync("make-tiny-model", model)).ExitCode);
        // As much memory as a 512 × 512 image needs, whatever this machine has.
        var room = GenerationMemory.Estimate(ModelFootprint.Read(ModelLocator.FromDiffusersFolder(model), TorchSharp.torch.ScalarType.Float32, null),
            new MemoryRequest(512, 512, LowMemory: true)).TotalBytes;
        var environment = new Dictionary<string, string> { ["FluxStudio__Engine__MemoryLimitGB"] = (room / 1e9).ToString("R", CultureInfo.InvariantCulture) };
        var output = Path.Combine(_dir, "never.png");

        var result = await CliProcess.RunAsync(environment, "generate", "--path", model, "--prompt", "a fox", "--width", "2048", "--height", "1024",
            "--dtype", "fp32", "--device", "cpu", "--output", output);

        Assert.Equal(4, result.ExitCode);
        // The last line, after the progress lines: one sentence in the command line's terms, nothing of libtorch's.
        Assert.Matches(@"^error: A 2048 × 1024 image needs about [0-9.]+ GB of memory and [0-9.]+ GB is available; it would fit with --width \d+ --height \d+\.$",
            result.StandardError.Trim().Split('\n')[^1]);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData(1024, 768, null, false, "with --width 1024 --height 768")]
    [InlineData(null, null, 8, false, "with -q 8")]
    [InlineData(null, null, null, true, "with --low-ram")]
    [InlineData(512, 512, 4, true, "with -q 4 --low-ram --width 512 --height 512")]
    public void MemoryRemediesAreWordedAsFlags(int? width, int? height, int? bits, bool lowMemory, string expected) =>
        Assert.Equal(expected, CliMemoryRemedyWording.Instance.Describe(new MemoryRemedy(width, height, bits, lowMemory)));

    [Fact]
    public async Task BadInputGivesASentenceAndExitCodeTwo()
    {
        var model = Path.Combine(_dir, "tiny");
        await CliProcess.RunAsync("make-tiny-model", model);
        var result = await CliProcess.RunAsync("generate", "--path", model, "--prompt", "a fox", "--width", "30", "--height", "24");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("multiple of 4", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);

        var noPrompt = await CliProcess.RunAsync("generate", "--path", model);
        Assert.Equal(2, noPrompt.ExitCode);
        Assert.Contains("Give a prompt", noPrompt.StandardError);
    }

    [Fact]
    public async Task AMissingModelSaysWhereItLookedWithExitCodeThree()
    {
        var result = await CliProcess.RunAsync("generate", "--path", Path.Combine(_dir, "nowhere"), "--prompt", "a fox");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("nowhere", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }

    [Fact]
    public async Task ADamagedQuantizedModelGivesASentenceAndExitCodeOne()
    {
        var model = Path.Combine(_dir, "tiny");
        await CliProcess.RunAsync("make-tiny-model", model);
        var quantized = Path.Combine(_dir, "tiny-q8");
        Assert.Equal(0, (await CliProcess.RunAsync("save", "--from", model, "-q", "8", "--path", quantized)).ExitCode);
        var file = Path.Combine(quantized, "transformer", "diffusion_pytorch_model.safetensors");
        var bytes = File.ReadAllBytes(file);
        var header = System.Text.Encoding.UTF8.GetBytes("\"quantization_bits\":\"8\"");
        int at = bytes.AsSpan().IndexOf(header);
        Assert.True(at > 0, "the header records the bit width");
        bytes[at + header.Length - 2] = (byte)'5';
        File.WriteAllBytes(file, bytes);

        var result = await CliProcess.RunAsync("generate", "--path", quantized, "--prompt", "a fox", "--width", "32", "--height", "24",
            "--output", Path.Combine(_dir, "never.png"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("quantization_bits is '5'", result.StandardError);
        Assert.Contains("fluxstudio save", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.False(File.Exists(Path.Combine(_dir, "never.png")));
    }

    [Fact]
    public async Task AnUnreachableHubGivesASentenceAndExitCodeOne()
    {
        var environment = new Dictionary<string, string>
        {
            ["HF_HUB_CACHE"] = Path.Combine(_dir, "empty-cache"),
            ["HF_ENDPOINT"] = LoopbackPorts.ClosedEndpoint().ToString(),
            ["HF_HUB_OFFLINE"] = "0",
        };
        var result = await CliProcess.RunAsync(environment, "generate", "--model", "schnell", "--prompt", "a fox",
            "--output", Path.Combine(_dir, "never.png"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Check the network connection or HF_ENDPOINT", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }
}
