namespace FluxStudio.App.Background;

/// <summary>Settings of <see cref="BackgroundRemover"/>, bound from the <c>BackgroundRemoval</c> configuration section.</summary>
public sealed class BackgroundRemovalOptions
{
    public const string SectionName = "BackgroundRemoval";

    /// <summary>
    /// An ONNX file, or a folder holding one (<c>onnx/model.onnx</c>, <c>model.onnx</c>, …). When empty, the model is
    /// looked up in the Hugging Face cache under <see cref="ModelRepository"/>.
    /// </summary>
    public string? ModelPath { get; set; }

    /// <summary>The Hugging Face repository whose cached snapshot is used when <see cref="ModelPath"/> is empty.</summary>
    public string ModelRepository { get; set; } = "briaai/RMBG-2.0";

    /// <summary>Images with more pixels than this are refused before they are decoded.</summary>
    public double MaxMegapixels { get; set; } = 50;

    /// <summary>Uploads larger than this are refused while they are read.</summary>
    public long MaxInputBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Threads ONNX Runtime may use for one inference; 0 lets it decide.</summary>
    public int Threads { get; set; }

    public ExecutionProviderPreference ExecutionProvider { get; set; } = ExecutionProviderPreference.Auto;

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
