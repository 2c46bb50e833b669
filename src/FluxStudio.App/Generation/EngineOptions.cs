namespace FluxStudio.App.Generation;

/// <summary>How the engine runs on this machine (section <c>FluxStudio:Engine</c>).</summary>
public sealed class EngineOptions
{
    public const string SectionName = "FluxStudio:Engine";

    /// <summary>auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>auto (bf16 on a GPU and on CPUs with AVX-512 BF16 or AMX, fp32 on other CPUs), fp32, bf16 or fp16.</summary>
    public string Precision { get; set; } = "auto";

    /// <summary>
    /// Load the text encoders only to encode each prompt, the transformer only when needed and the VAE only to decode.
    /// Null means on for the CPU (where RAM is the limit) and off on a GPU.
    /// </summary>
    public bool? LowMemory { get; set; }

    /// <summary>
    /// A local ControlNet folder (<c>config.json</c> and <c>diffusion_pytorch_model.safetensors</c>, or a Hugging Face cache
    /// folder of one). Empty: InstantX's Canny ControlNet from the models root or the Hugging Face cache, downloaded when
    /// missing and downloads are allowed. The CLI's <c>--controlnet-path</c>.
    /// </summary>
    public string? ControlNetPath { get; set; }

    /// <summary>
    /// When set, each generation is planned against at most this many gigabytes (the machine's available memory
    /// otherwise): a share of a machine that other programs need too.
    /// </summary>
    public double? MemoryLimitGB { get; set; }

    public long? MemoryLimitBytes => MemoryLimitGB is { } gigabytes ? (long)(gigabytes * 1e9) : null;

    /// <summary>Send a small preview with each denoising step.</summary>
    public bool Previews { get; set; } = true;
}
