using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Which instruction sets the CPU kernels use, decided once per process so the JIT folds every check into a constant.
/// One owner for the decision: kernels read it, none probes the hardware itself. To compare the AVX-512 and AVX2
/// kernels side by side on one machine, run a process with <c>DOTNET_EnableAVX512=0</c> (the runtime then reports
/// no AVX-512 at all; .NET 10 groups the AVX-512 subsets under that one knob, and the older
/// <c>DOTNET_EnableAVX512F=0</c> is ignored: measured, AVX-512 stays on with it).
/// </summary>
internal static class CpuIsa
{
    /// <summary>AVX2 with FMA: the 256-bit kernels (every x86-64 machine of the last decade).</summary>
    public static bool Avx2 { get; } = System.Runtime.Intrinsics.X86.Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// AVX-512 F, BW, DQ and VL: the 512-bit kernels. .NET 10 exposes no 512-bit VNNI or AVX512-BF16, so the int8
    /// kernels multiply with maddubs + madd at this width (or keep 256-bit AVX-VNNI where that wins).
    /// </summary>
    public static bool Avx512 { get; } = Avx2 && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported
                                         && Avx512F.VL.IsSupported && Avx512BW.VL.IsSupported;
}
