using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

/// <summary>
/// A LoRA chosen for a generation and its scale: a file name in the LoRA folder (the UI and the API), or a full path
/// where the validator allows paths (the CLI).
/// </summary>
public sealed record LoraSelection(string Name, double Scale = 1.0);

/// <summary>
/// Everything needed to generate one image: the one request record of the studio. The UI, the REST API, the CLI and
/// "reuse these settings" all make it; <see cref="GenerationRequestValidator"/> checks it at each of those edges, and
/// <see cref="ImageGenerationService"/> is the only code that turns it into an image. Settings the engine decides
/// from the weights (steps and guidance when left empty, whether guidance applies at all) are not resolved here:
/// what is recorded is what the engine reports it ran.
/// </summary>
public sealed record GenerationRequest
{
    public const int DefaultSize = 1024;
    /// <summary>mflux's default <c>--controlnet-strength</c>.</summary>
    public const double DefaultControlNetStrength = 0.4;
    public const double DefaultImageStrength = InitImage.DefaultStrength;

    public required string Prompt { get; init; }

    /// <summary>The release asked for; the engine runs (and history records) the release the weights are.</summary>
    public FluxVariant Model { get; init; } = FluxVariant.Schnell;

    /// <summary>Bits per weight (4 or 8), or null for the model's own precision.</summary>
    public int? Quantize { get; init; }

    /// <summary>Denoising steps; null means the loaded model's default (4 for schnell, 20 for dev).</summary>
    public int? Steps { get; init; }

    /// <summary>0 picks a random seed when the image is made. The first image's seed of a batch (see <see cref="BatchCount"/>).</summary>
    public long Seed { get; init; }

    /// <summary>
    /// How many images to make, one history entry each, from one encoding of the prompt: with a <see cref="Seed"/>, the
    /// seeds Seed, Seed + 1, …; with 0, a random seed each.
    /// </summary>
    public int BatchCount { get; init; } = 1;

    /// <summary>Seeds given one by one (the CLI's repeated <c>--seed</c>), one image each; when given they make the batch.</summary>
    public IReadOnlyList<long> Seeds { get; init; } = [];

    /// <summary>Distilled guidance, used by dev-style weights only; null means their default (3.5).</summary>
    public double? Guidance { get; init; }

    public int Width { get; init; } = DefaultSize;
    public int Height { get; init; } = DefaultSize;

    /// <summary>A local model folder or file to load instead of the named model.</summary>
    public string? ModelPath { get; init; }

    public IReadOnlyList<LoraSelection> Loras { get; init; } = [];

    /// <summary>A reference picture: the image follows its Canny edges through the ControlNet.</summary>
    public string? ControlNetImagePath { get; init; }

    /// <summary>How strongly the edges guide the image, 0 to 1 (0: not at all).</summary>
    public double ControlNetStrength { get; init; } = DefaultControlNetStrength;

    /// <summary>Also write the edge map beside the user's copy (the CLI's <c>--output</c>); history keeps it either way.</summary>
    public bool ControlNetSaveCanny { get; init; }

    /// <summary>How the edge map's encoding conditions the ControlNet: mflux's (the original app's) or diffusers'.</summary>
    public ControlNetEncoding ControlNetEncoding { get; init; } = ControlNetEncoding.Mflux;

    /// <summary>A picture to start from instead of noise (image to image).</summary>
    public string? InitImagePath { get; init; }

    /// <summary>How much of <see cref="InitImagePath"/> is kept, 0 to 1 (mflux's <c>--image-strength</c>; 0 is text to image).</summary>
    public double ImageStrength { get; init; } = DefaultImageStrength;

    /// <summary>Write the JSON metadata sidecar next to the image.</summary>
    public bool Metadata { get; init; }

    /// <summary>
    /// The steps a progress display can show before the engine reports the real count, which it takes from the
    /// weights when <see cref="Steps"/> is empty.
    /// </summary>
    public int ExpectedSteps => Steps ?? Model.DefaultSteps();

    public bool UsesControlNet => !string.IsNullOrWhiteSpace(ControlNetImagePath);

    public bool UsesInitImage => !string.IsNullOrWhiteSpace(InitImagePath);

    /// <summary>The files of the pictures the request starts from (the ControlNet's reference, the start image), each once.</summary>
    public IEnumerable<string> InputPicturePaths() =>
        new[] { UsesControlNet ? ControlNetImagePath : null, UsesInitImage ? InitImagePath : null }.OfType<string>().Distinct();

    /// <summary>How many images the request makes.</summary>
    public int ImageCount => Seeds.Count > 0 ? Seeds.Count : BatchCount;

    /// <summary>The seed of each image: <see cref="Seeds"/> as given, else Seed, Seed + 1, … (0, a random seed, for each when Seed is 0).</summary>
    public IReadOnlyList<long> BatchSeeds() => Seeds.Count > 0
        ? Seeds
        : Enumerable.Range(0, BatchCount).Select(i => Seed == 0 ? 0 : Seed + i).ToList();

    /// <summary>The images of the batch after the first <paramref name="done"/> (a job that stopped part-way runs only the rest).</summary>
    public GenerationRequest Remaining(int done)
    {
        if (done <= 0)
            return this;
        var rest = BatchSeeds().Skip(done).ToList();
        return this with { Seed = rest.FirstOrDefault(), Seeds = rest, BatchCount = rest.Count };
    }

    // Records compare lists by reference; requests are compared by value in tests and in the model cache.
    public bool Equals(GenerationRequest? other) =>
        other is not null
        && Prompt == other.Prompt && Model == other.Model && Quantize == other.Quantize && Steps == other.Steps
        && Seed == other.Seed && BatchCount == other.BatchCount && Seeds.SequenceEqual(other.Seeds)
        && Guidance == other.Guidance && Width == other.Width && Height == other.Height
        && ModelPath == other.ModelPath && Loras.SequenceEqual(other.Loras)
        && ControlNetImagePath == other.ControlNetImagePath && ControlNetStrength == other.ControlNetStrength
        && ControlNetSaveCanny == other.ControlNetSaveCanny && ControlNetEncoding == other.ControlNetEncoding
        && InitImagePath == other.InitImagePath && ImageStrength == other.ImageStrength && Metadata == other.Metadata;

    public override int GetHashCode() => HashCode.Combine(Prompt, Model, Seed, Width, Height, Steps, Loras.Count);
}
