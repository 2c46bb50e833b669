using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Weights;

public sealed class SafetensorsResidentMemoryTests
{
    /// <summary>
    /// Pages read through a memory mapping stay in the process's resident memory until the file is closed, which would
    /// double the peak while a model loads (its tensors plus its file). Loading must not leave them there.
    /// </summary>
    [Fact]
    public void LoadingATensorDoesNotKeepTheFilesPagesResident()
    {
        if (!File.Exists("/proc/self/status")) return;
        using var folder = new TempFolder();
        var path = folder.File("large.safetensors");
        const long rows = 32 << 10, columns = 4 << 10; // 256 MiB of bf16
        using (var values = ones([rows, columns], ScalarType.BFloat16))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = values });

        using var file = SafetensorsFile.Open(path);
        using var target = zeros([rows, columns], ScalarType.BFloat16);
        long before = ResidentFileBytes();
        file.LoadInto("w", target);
        long grown = ResidentFileBytes() - before;

        Assert.True(target.eq(1).all().item<bool>(), "the loaded values");
        Assert.True(grown < rows * columns / 2, $"file-backed resident memory grew by {grown >> 20} MiB while loading 256 MiB");
    }

    private static long ResidentFileBytes() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("RssFile:", StringComparison.Ordinal))
            .Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
