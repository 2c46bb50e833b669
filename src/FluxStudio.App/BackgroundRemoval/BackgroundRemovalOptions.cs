namespace FluxStudio.App.BackgroundRemoval;

/// <summary>Settings of <see cref="BackgroundRemover"/>, bound from the <c>BackgroundRemoval</c> configuration section.</summary>
public sealed class BackgroundRemovalOptions
{
    public const string SectionName = "BackgroundRemoval";

    /// <summary>
    /// An ONNX file, or a folder holding one (<c>onnx/model.onnx</c>, <c>model.onnx</c>, …). When empty, the model is
    /// looked up in the Hugging Face cache under <see cref="ModelRepository"/>.
    /// </summary>
    public string? ModelPath { get; set; }

    /// <summary>
    /// The Hugging Face repository whose cached snapshot is used when <see cref="ModelPath"/> is empty. The cache, the
    /// Hub's address and the token are the studio's (section <c>Models</c> and the <c>HF_*</c> environment variables).
    /// </summary>
    public string ModelRepository { get; set; } = "briaai/RMBG-2.0";

    /// <summary>
    /// Download <see cref="ModelFile"/> of <see cref="ModelRepository"/> into the hub cache when no model is found.
    /// Off by default: the studio works offline unless told otherwise, and the file is about 1 GB. <c>HF_HUB_OFFLINE</c>
    /// forbids it whatever this says.
    /// </summary>
    public bool AllowDownload { get; set; }

    /// <summary>The file to download from the repository.</summary>
    public string ModelFile { get; set; } = "onnx/model.onnx";

    /// <summary>The branch, tag or commit of <see cref="ModelRepository"/> that is downloaded and looked up.</summary>
    public string Revision { get; set; } = "main";

    /// <summary>Images with more pixels than this are refused before they are decoded.</summary>
    public double MaxMegapixels { get; set; } = 50;

    /// <summary>Uploads larger than this are refused while they are read.</summary>
    public long MaxInputBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Threads ONNX Runtime may use for one inference; 0 lets it decide.</summary>
    public int Threads { get; set; }

    /// <summary>How many images may be inside the model at once; more wait their turn.</summary>
    public int MaxConcurrentRuns { get; set; } = 1;

    public ExecutionProviderPreference ExecutionProvider { get; set; } = ExecutionProviderPreference.Auto;

    /// <summary>
    /// The output that holds the final mask. Empty means the last one, as in RMBG-2.0 and BiRefNet, whose earlier
    /// outputs are coarser side predictions; name it for exports that list the final mask elsewhere.
    /// </summary>
    public string? OutputName { get; set; }

    /// <summary>Whether the model's output still needs a sigmoid. <see cref="MaskActivation.Auto"/> decides per output.</summary>
    public MaskActivation MaskActivation { get; set; } = MaskActivation.Auto;
}

public enum ExecutionProviderPreference
{
    /// <summary>CUDA or CoreML when the ONNX Runtime build in use has them, otherwise CPU.</summary>
    Auto,
    Cpu,
    Cuda,
    CoreML,
}

public enum MaskActivation
{
    /// <summary>
    /// Apply a sigmoid when the output leaves [0, 1]: probabilities never do, and the logits of a real matting
    /// model always do (its background is strongly negative).
    /// </summary>
    Auto,
    /// <summary>The graph ends in logits.</summary>
    Sigmoid,
    /// <summary>The graph already ends in probabilities; values are only clamped to [0, 1].</summary>
    None,
}
