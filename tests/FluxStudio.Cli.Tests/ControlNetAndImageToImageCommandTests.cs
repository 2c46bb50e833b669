using System.Globalization;
using System.Text.Json;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Cli.Tests;

/// <summary>
/// `generate` with mflux's ControlNet, image-to-image and batch flags, on the tiny models: the controlnet-tiny runs
/// reproduced from the command line, the edge map it saves, a start picture, and `--auto-seeds`.
/// </summary>
public sealed class ControlNetAndImageToImageCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-cli-cn-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The 8-bit RGB pixels of a PNG file.</summary>
    private static byte[] Rgb(string png) => RgbImageFile.Read(png).Pixels;

    /// <summary>`generate` on the ControlNet fixture's model with its shared run's prompt, seed, size, steps and guidance, in fp32 on the CPU.</summary>
    private static string[] RunArguments(string output, params string[] more) =>
        ["generate", "--path", ControlNetFixture.PipelineModel, .. ControlNetFixture.RunArguments, "--device", "cpu", "--dtype", "fp32",
            "--output", output, .. more];

    public static TheoryData<string> Runs() => [.. ControlNetFixture.RunNames];

    [Theory]
    [MemberData(nameof(Runs))]
    public async Task ReproducesEachControlNetRunAndSavesExactlyTheEncodedEdgeMap(string run)
    {
        var (convention, strength) = ControlNetFixture.RunSettings(run);
        var output = Path.Combine(_dir, "guided.png");
        string[] encoding = convention == "mflux" ? [] : ["--controlnet-encoding", convention];
        var result = await CliProcess.RunAsync(RunArguments(output,
            ["--controlnet-path", ControlNetFixture.ControlNetFolder, "--controlnet-image-path", ControlNetFixture.ControlImage,
                "--controlnet-strength", strength.ToString(CultureInfo.InvariantCulture), .. encoding, "--controlnet-save-canny", "--metadata"]));

        Assert.True(result.ExitCode == 0, result.StandardError);
        var expected = Rgb(ControlNetFixture.RunImage(run));
        var actual = Rgb(output);
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1));

        var canny = Path.Combine(_dir, "guided_controlnet_canny.png");
        Assert.Equal(Rgb(ControlNetFixture.ControlCannyRgb), Rgb(canny));
        Assert.Contains(canny, result.StandardOutput);

        var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "guided.json"))).RootElement;
        Assert.Equal(ControlNetFixture.ControlImage, metadata.GetProperty("controlnet_image_path").GetString());
        Assert.Equal(strength, metadata.GetProperty("controlnet_strength").GetDouble());
        Assert.Equal(convention, metadata.GetProperty("controlnet_encoding").GetString());
        Assert.Equal(64, metadata.GetProperty("controlnet_image_hash").GetString()!.Length);
    }

    [Fact]
    public async Task ImageToImageKeepsWhatTheStrengthSaysAndStrengthZeroIsTextToImage()
    {
        var plain = Path.Combine(_dir, "plain.png");
        var started = Path.Combine(_dir, "started.png");
        var atZero = Path.Combine(_dir, "zero.png");
        var picture = ControlNetFixture.ControlImage;

        var results = new[]
        {
            await CliProcess.RunAsync(RunArguments(plain)),
            await CliProcess.RunAsync(RunArguments(started, "--image-path", picture, "--image-strength", "0.5", "--metadata")),
            await CliProcess.RunAsync(RunArguments(atZero, "--image-path", picture, "--image-strength", "0")),
        };

        Assert.All(results, result => Assert.True(result.ExitCode == 0, result.StandardError));
        Assert.Equal(Rgb(plain), Rgb(atZero));
        Assert.NotEqual(Rgb(plain), Rgb(started));
        Assert.Contains("text to image", results[2].StandardError);
        var metadata = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(started, ".json"))).RootElement;
        Assert.Equal(picture, metadata.GetProperty("image_path").GetString());
        Assert.Equal(0.5, metadata.GetProperty("image_strength").GetDouble());
        var parameters = PngChunkReader.ReadText(File.ReadAllBytes(started))["parameters"];
        Assert.Contains("Denoising strength: 0.5", parameters);
    }

    [Fact]
    public async Task AutoSeedsWritesThatManyImagesWithDifferentSeedsRecorded()
    {
        var dataRoot = Path.Combine(_dir, "data");
        var output = Path.Combine(_dir, "batch", "fox.png");
        var withoutSeed = RunArguments(output, "--auto-seeds", "3", "--metadata", "--data-root", dataRoot).ToList();
        withoutSeed.RemoveRange(withoutSeed.IndexOf("--seed"), 2);
        var result = await CliProcess.RunAsync([.. withoutSeed]);

        Assert.True(result.ExitCode == 0, result.StandardError);
        var images = Directory.GetFiles(Path.Combine(_dir, "batch"), "fox_seed_*.png");
        Assert.Equal(3, images.Length);
        var seeds = images.Select(png => JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(png, ".json"))).RootElement.GetProperty("seed").GetInt64())
            .ToList();
        Assert.Equal(3, seeds.Distinct().Count());
        Assert.All(images.Zip(seeds), pair => Assert.EndsWith($"fox_seed_{pair.Second}.png", pair.First));
        Assert.Equal(3, images.Select(Rgb).Select(Convert.ToHexString).Distinct().Count());

        var history = await CliProcess.RunAsync("history", "list", "--data-root", dataRoot);
        Assert.True(history.ExitCode == 0, history.StandardError);
        Assert.All(seeds, seed => Assert.Contains(seed.ToString(CultureInfo.InvariantCulture), history.StandardOutput));
        Assert.Equal(3, result.StandardOutput.Split('\n').Count(line => line.StartsWith("Recorded in history", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("--auto-seeds", "2", "--seed", "4", "either --seed or --auto-seeds")]
    [InlineData("--controlnet-encoding", "comfy", "--controlnet-strength", "0.4", "use mflux or diffusers")]
    [InlineData("--image-path", "missing.png", "--image-strength", "0.4", "does not exist")]
    [InlineData("--image-path", "picture", "--image-strength", "1.5", "between 0 and 1")]
    public async Task BadFlagsGiveASentenceAndExitCodeTwo(string flag, string value, string other, string otherValue, string message)
    {
        value = value switch { "missing.png" => Path.Combine(_dir, value), "picture" => ControlNetFixture.ControlImage, _ => value };
        var result = await CliProcess.RunAsync(RunArguments(Path.Combine(_dir, "bad.png"), flag, value, other, otherValue));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }
}
