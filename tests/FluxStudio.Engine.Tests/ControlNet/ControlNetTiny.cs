using System.Text.Json;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Tests.Pipeline;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>
/// The tests/Fixtures/controlnet-tiny set, as its manifest.json describes it: the ControlNet folder, the pipeline model
/// and baseline run it builds on, the run parameters, the runs, the images and the injection cases.
/// </summary>
internal static class ControlNetTiny
{
    public static string Folder => Fixtures.Path("controlnet-tiny");

    public static JsonElement Manifest { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "manifest.json"))).RootElement;

    /// <summary>The folder of the ControlNet's config.json (and weights).</summary>
    public static string ControlNetFolder => Path.GetDirectoryName(ListedFile("config.json"))!;

    public static string PipelineModel => Resolve(Manifest.GetProperty("pipeline_model").GetProperty("path").GetString()!);

    /// <summary>The pipeline-tiny run whose inputs (text, noise, ids, schedule) the ControlNet runs share.</summary>
    public static string BaselineRun => Resolve(Manifest.GetProperty("pipeline_model").GetProperty("baseline_run").GetString()!);

    /// <summary>The prompt, seed, size, steps and guidance every run shares.</summary>
    public static GoldenRun RunParameters => GoldenRun.FromJson(Manifest.GetProperty("run_common"));

    public static IReadOnlyList<string> RunNames { get; } = [.. Manifest.GetProperty("runs").EnumerateObject().Select(run => run.Name)];

    public static TheoryData<string> Runs() => [.. RunNames];

    public static string RunFolder(string run) => Path.Combine(Folder, "runs", run);

    public static (ControlNetEncoding Encoding, float Strength) RunSettings(string run)
    {
        var settings = Manifest.GetProperty("runs").GetProperty(run);
        return (Enum.Parse<ControlNetEncoding>(settings.GetProperty("convention").GetString()!, ignoreCase: true),
            settings.GetProperty("strength").GetSingle());
    }

    /// <summary>The names of the images of the manifest (<c>images/NAME.png</c>, with their edges in <c>images/NAME_canny*.png</c>).</summary>
    public static IReadOnlyList<string> ImageNames { get; } = [.. Manifest.GetProperty("images").EnumerateObject().Select(image => image.Name)];

    public static TheoryData<string> Images() => [.. ImageNames];

    public static string ImagePath(string image) => Path.Combine(Folder, "images", image + ".png");

    /// <summary>The reference edge maps of an image: every <c>images/NAME_canny*.png</c> the manifest lists.</summary>
    public static IEnumerable<string> CannyPaths(string image) =>
        Manifest.GetProperty("files").EnumerateObject().Select(file => file.Name)
            .Where(name => name.StartsWith($"images/{image}_canny", StringComparison.Ordinal))
            .Select(name => Path.Combine(Folder, name));

    /// <summary>The control image of the runs: the manifest's image at the runs' size.</summary>
    public static string RunControlImage()
    {
        var run = RunParameters;
        return ImagePath(Manifest.GetProperty("images").EnumerateObject()
            .Single(image => image.Value.GetProperty("width").GetInt32() == run.Width && image.Value.GetProperty("height").GetInt32() == run.Height)
            .Name);
    }

    public static SafetensorsFile Open(string fileName) => SafetensorsFile.Open(Path.Combine(Folder, fileName));

    public static FluxGenerationOptions RunOptions(string run, RgbImage controlImage)
    {
        var (encoding, strength) = RunSettings(run);
        return RunParameters.Options with { ControlNet = new ControlNetConditioning(controlImage, strength, encoding) };
    }

    private static string ListedFile(string fileName) =>
        Path.Combine(Folder, Manifest.GetProperty("files").EnumerateObject().Select(file => file.Name)
            .Single(name => Path.GetFileName(name) == fileName));

    private static string Resolve(string relative) => Path.GetFullPath(Path.Combine(Folder, relative));
}
