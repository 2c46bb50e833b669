using TorchSharp;

namespace FluxStudio.Engine.Devices;

/// <summary>What libtorch this process runs on: its version, devices and thread count.</summary>
public static class TorchRuntime
{
    public static string LibTorchVersion => torch.__version__;

    public static bool CudaAvailable => torch.cuda.is_available();

    public static bool MpsAvailable => torch.mps_is_available();

    public static int Threads => torch.get_num_threads();

    public static string Describe() =>
        $"libtorch {LibTorchVersion}, {Threads} CPU threads, CUDA {(CudaAvailable ? "available" : "not available")}, " +
        $"MPS {(MpsAvailable ? "available" : "not available")}";
}
