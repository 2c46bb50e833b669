using System.Globalization;
using System.Text.Json;
using FluxStudio.Engine.Tests;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// The tests/Fixtures/controlnet-tiny set as its manifest.json describes it, for tests that run the studio rather than
/// tensors: the ControlNet folder, the pipeline model, the run parameters every run shares, each run's convention,
/// strength and image, and the control image with the edge map that is encoded.
/// </summary>
public static class ControlNetFixture
{
    public static string Folder => Fixtures.Path("controlnet-tiny");

    private static JsonElement Manifest { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "manifest.json"))).RootElement;

    /// <summary>The folder of the ControlNet's config.json and weights.</summary>
    public static string ControlNetFolder => Path.GetDirectoryName(Path.Combine(Folder, ListedFiles.Single(name => Path.GetFileName(name) == "config.json")))!;

    public static string PipelineModel => Path.GetFullPath(Path.Combine(Folder, Manifest.GetProperty("pipeline_model").GetProperty("path").GetString()!));

    private static JsonElement Common => Manifest.GetProperty("run_common");

    public static string Prompt => Common.GetProperty("prompt").GetString()!;
    public static ulong Seed => Common.GetProperty("seed").GetUInt64();
    public static int Width => Common.GetProperty("width").GetInt32();
    public static int Height => Common.GetProperty("height").GetInt32();
    public static int Steps => Common.GetProperty("num_steps").GetInt32();
    public static double Guidance => Common.GetProperty("guidance").GetDouble();

    public static IReadOnlyList<string> RunNames => [.. Manifest.GetProperty("runs").EnumerateObject().Select(run => run.Name)];

    /// <summary>The run's conditioning convention (<c>mflux</c> or <c>diffusers</c>) and strength.</summary>
    public static (string Convention, double Strength) RunSettings(string run)
    {
        var settings = Manifest.GetProperty("runs").GetProperty(run);
        return (settings.GetProperty("convention").GetString()!, settings.GetProperty("strength").GetDouble());
    }

    public static string RunImage(string run) => Path.Combine(Folder, "runs", run, "image.png");

    /// <summary>The control image of the runs: the manifest's image at the runs' size.</summary>
    public static string ControlImage => Path.Combine(Folder, "images", ControlImageName + ".png");

    /// <summary>The control image's edges as the 3-channel picture that is encoded (and that mflux saves).</summary>
    public static string ControlCannyRgb => Path.Combine(Folder, ListedFiles.Single(name => name == $"images/{ControlImageName}_canny_rgb.png"));

    /// <summary>The arguments of <c>fluxstudio generate</c> for the runs' prompt, seed, size, steps and guidance.</summary>
    public static string[] RunArguments =>
    [
        "--prompt", Prompt, "--seed", Seed.ToString(CultureInfo.InvariantCulture),
        "--width", Width.ToString(CultureInfo.InvariantCulture), "--height", Height.ToString(CultureInfo.InvariantCulture),
        "--steps", Steps.ToString(CultureInfo.InvariantCulture), "--guidance", Guidance.ToString(CultureInfo.InvariantCulture),
    ];

    private static string ControlImageName => Manifest.GetProperty("images").EnumerateObject()
        .Single(image => image.Value.GetProperty("width").GetInt32() == Width && image.Value.GetProperty("height").GetInt32() == Height).Name;

    private static IEnumerable<string> ListedFiles => Manifest.GetProperty("files").EnumerateObject().Select(file => file.Name);
}
