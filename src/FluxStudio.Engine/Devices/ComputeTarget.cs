using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Devices;

/// <summary>Where and in which precision the models run.</summary>
public sealed record ComputeTarget(DeviceType DeviceType, int DeviceIndex, ScalarType DType)
{
    public static ComputeTarget Cpu { get; } = new(DeviceType.CPU, -1, ScalarType.Float32);

    /// <summary>The libtorch device; made on first use, since naming a GPU that is absent fails.</summary>
    public Device Device => new(DeviceType, DeviceIndex);

    public string DeviceName => DeviceType switch
    {
        DeviceType.CUDA => DeviceIndex > 0 ? $"cuda:{DeviceIndex}" : "cuda",
        DeviceType.MPS => "mps",
        _ => "cpu",
    };

    public string PrecisionName => NameOf(DType);

    /// <summary>The settings' name of a precision: fp32, bf16 or fp16.</summary>
    public static string NameOf(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => "fp32",
    };

    public bool IsCpu => DeviceType == DeviceType.CPU;

    public override string ToString() => $"{DeviceName} ({PrecisionName})";

    /// <summary>
    /// Picks the device ("auto": CUDA if present, else MPS on Apple Silicon, else CPU) and the precision ("auto": the
    /// fastest the hardware runs well: bf16 on a GPU and on CPUs with AVX-512 BF16 or AMX, fp32 on other CPUs). Names
    /// are the CLI's and the settings' (`--device`, `--dtype`).
    /// </summary>
    public static ComputeTarget Resolve(string? device, string? dtype) =>
        Resolve(device, dtype, TorchRuntime.CudaAvailable, TorchRuntime.MpsAvailable, CpuFeatures.Current);

    /// <param name="cpu">What the CPU offers (<see cref="CpuFeatures.Current"/>); none when not given.</param>
    public static ComputeTarget Resolve(string? device, string? dtype, bool cudaAvailable, bool mpsAvailable, CpuFeatures? cpu = null)
    {
        var name = string.IsNullOrWhiteSpace(device) ? "auto" : device.Trim().ToLowerInvariant();
        (DeviceType Type, int Index) chosen = name switch
        {
            "auto" => cudaAvailable ? (DeviceType.CUDA, 0) : mpsAvailable ? (DeviceType.MPS, -1) : (DeviceType.CPU, -1),
            "cpu" => (DeviceType.CPU, -1),
            "mps" => mpsAvailable ? (DeviceType.MPS, -1)
                : throw new ArgumentException("--device mps needs an Apple Silicon Mac with MPS; use --device cpu or auto."),
            "cuda" => cudaAvailable ? (DeviceType.CUDA, 0) : throw NoCuda(),
            _ when name.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(name.AsSpan(5), out int index) && index >= 0 =>
                cudaAvailable ? (DeviceType.CUDA, index) : throw NoCuda(),
            _ => throw new ArgumentException($"Unknown device '{device}': use auto, cpu, cuda, cuda:N or mps."),
        };

        var precision = string.IsNullOrWhiteSpace(dtype) ? "auto" : dtype.Trim().ToLowerInvariant();
        ScalarType type = precision switch
        {
            "auto" => chosen.Type != DeviceType.CPU || (cpu ?? CpuFeatures.None).HasFastBFloat16 ? ScalarType.BFloat16 : ScalarType.Float32,
            "fp32" or "float32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            "fp16" or "float16" => chosen.Type == DeviceType.CPU
                ? throw new ArgumentException("fp16 is not supported on the CPU; use --dtype fp32 or bf16.")
                : ScalarType.Float16,
            _ => throw new ArgumentException($"Unknown precision '{dtype}': use auto, fp32, bf16 or fp16."),
        };
        return new ComputeTarget(chosen.Type, chosen.Index, type);
    }

    private static ArgumentException NoCuda() => new(
        "--device cuda needs an NVIDIA GPU and the CUDA build of libtorch (build with -p:TorchBackend=cuda); use --device cpu or auto.");
}
