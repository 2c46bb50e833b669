using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Devices;

/// <summary>Where and in which precision the models run.</summary>
public sealed record ComputeTarget(Device Device, ScalarType DType)
{
    public static ComputeTarget Cpu { get; } = new(CPU, ScalarType.Float32);

    public string DeviceName => Device.type switch
    {
        DeviceType.CUDA => Device.index > 0 ? $"cuda:{Device.index}" : "cuda",
        DeviceType.MPS => "mps",
        _ => "cpu",
    };

    public string PrecisionName => DType switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => "fp32",
    };

    public bool IsCpu => Device.type == DeviceType.CPU;

    public override string ToString() => $"{DeviceName} ({PrecisionName})";

    /// <summary>
    /// Picks the device ("auto": CUDA if present, else MPS on Apple Silicon, else CPU) and the precision
    /// ("auto": bf16 on a GPU, fp32 on the CPU). Names are the CLI's and the settings' (`--device`, `--dtype`).
    /// </summary>
    public static ComputeTarget Resolve(string? device, string? dtype) =>
        Resolve(device, dtype, TorchRuntime.CudaAvailable, TorchRuntime.MpsAvailable);

    public static ComputeTarget Resolve(string? device, string? dtype, bool cudaAvailable, bool mpsAvailable)
    {
        var name = string.IsNullOrWhiteSpace(device) ? "auto" : device.Trim().ToLowerInvariant();
        Device chosen = name switch
        {
            "auto" => cudaAvailable ? CUDA : mpsAvailable ? new Device(DeviceType.MPS) : CPU,
            "cpu" => CPU,
            "mps" => mpsAvailable ? new Device(DeviceType.MPS)
                : throw new ArgumentException("--device mps needs an Apple Silicon Mac with MPS; use --device cpu or auto."),
            _ when name.StartsWith("cuda", StringComparison.Ordinal) => cudaAvailable ? new Device(name)
                : throw new ArgumentException(
                    "--device cuda needs an NVIDIA GPU and the CUDA build of libtorch (build with -p:TorchBackend=cuda); use --device cpu or auto."),
            _ => throw new ArgumentException($"Unknown device '{device}': use auto, cpu, cuda, cuda:N or mps."),
        };

        var precision = string.IsNullOrWhiteSpace(dtype) ? "auto" : dtype.Trim().ToLowerInvariant();
        ScalarType type = precision switch
        {
            "auto" => chosen.type == DeviceType.CPU ? ScalarType.Float32 : ScalarType.BFloat16,
            "fp32" or "float32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            "fp16" or "float16" => chosen.type == DeviceType.CPU
                ? throw new ArgumentException("fp16 is not supported on the CPU; use --dtype fp32 or bf16.")
                : ScalarType.Float16,
            _ => throw new ArgumentException($"Unknown precision '{dtype}': use auto, fp32, bf16 or fp16."),
        };
        return new ComputeTarget(chosen, type);
    }
}
