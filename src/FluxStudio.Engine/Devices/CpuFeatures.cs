using System.Runtime.Intrinsics.X86;

namespace FluxStudio.Engine.Devices;

/// <summary>
/// The bfloat16 matrix instructions a CPU offers. With AVX-512 BF16 or AMX, libtorch's bf16 matrix products run about
/// twice as fast as float32 ones; without them bf16 is emulated and slower than float32.
/// </summary>
public sealed record CpuFeatures(bool Avx512BFloat16, bool AmxBFloat16)
{
    public static CpuFeatures None { get; } = new(false, false);

    /// <summary>This machine's CPU, read once with CPUID.</summary>
    public static CpuFeatures Current => LazyCurrent.Value;

    private static readonly Lazy<CpuFeatures> LazyCurrent = new(Detect);

    /// <summary>Whether bf16 is the faster precision on this CPU.</summary>
    public bool HasFastBFloat16 => Avx512BFloat16 || AmxBFloat16;

    public override string ToString() =>
        HasFastBFloat16 ? string.Join(" and ", new[] { Avx512BFloat16 ? "AVX-512 BF16" : null, AmxBFloat16 ? "AMX-BF16" : null }.OfType<string>())
            : "no bf16 matrix instructions";

    /// <summary>CPUID leaf 7: sub-leaf 1 EAX bit 5 is AVX512_BF16, sub-leaf 0 EDX bit 22 is AMX-BF16.</summary>
    /// <remarks>Avx512F.IsSupported also says that the operating system saves the AVX-512 registers.</remarks>
    public static CpuFeatures Detect()
    {
        if (!X86Base.IsSupported || !Avx512F.IsSupported || X86Base.CpuId(0, 0).Eax < 7) return None;
        var leaf7 = X86Base.CpuId(7, 0);
        bool avx512Bf16 = leaf7.Eax >= 1 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
        bool amxBf16 = (leaf7.Edx & (1 << 22)) != 0;
        return new CpuFeatures(avx512Bf16, amxBf16);
    }
}
