using System.Runtime.InteropServices;

namespace FluxStudio.Engine.Memory;

/// <summary>
/// libtorch's CPU tensors live on the C heap. glibc keeps the pages of freed blocks for later, so one stage's
/// activations would stay resident under the next stage's and the peak would be their sum rather than the larger.
/// </summary>
public static class NativeHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Returns the heap's free pages to the system (glibc's malloc_trim); does nothing where there is no such call.</summary>
    public static void ReturnFreePages()
    {
        if (_unavailable) return;
        try
        {
            MallocTrim(0);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
        }
    }
}
