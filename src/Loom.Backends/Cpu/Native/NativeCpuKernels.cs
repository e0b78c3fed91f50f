using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Quantized;
using unsafe F16GemmPointer = delegate* unmanaged<ushort*, int, float*, int, int, float*, int, int, int, void>;
using unsafe PairKernelPointer = delegate* unmanaged[SuppressGCTransition]<byte*, byte*, ushort*, ushort*, int, sbyte*, float*, int*, float*, int, int, int, void>;

namespace Loom.Backends.Cpu.Native;

/// <summary>
/// The optional native kernels (<c>loom_cpu_kernels.c</c> and <c>loom_f16_kernels.c</c>, built into one library beside
/// the assemblies where a C compiler exists), for instructions .NET 10 does not expose: the eight- and four-token pair
/// tiles of the 32-value block types with AVX512-VNNI's vpdpbusd, and the F16 tile with F16C's vcvtph2ps for AVX2
/// machines. Each gives the managed kernel's bits (the integer block sums are exact, the widening of finite halves is
/// exact, the float steps are the same and in the same order), so they replace it wherever they load, with no flag to
/// ask for them. One owner for the decision, made once per process: the library is there, its ABI is the one this
/// build expects, <c>LOOM_NATIVE_KERNELS</c> is not <c>off</c> (or <c>0</c>), and per family the CPU has what it uses
/// (AVX512-VNNI beside the AVX-512 of the managed 512-bit kernels, <see cref="CpuIsa.Avx512"/>; AVX2, FMA and F16C).
/// </summary>
internal static unsafe class NativeCpuKernels
{
    /// <summary>The library's file name beside the assemblies.</summary>
    public const string LibraryName = "libloom_cpu_kernels.so";

    /// <summary>The environment variable that turns the native kernels off (<c>off</c> or <c>0</c>), for A/B runs.</summary>
    public const string DisableVariable = "LOOM_NATIVE_KERNELS";

    /// <summary>The <c>loom_native_abi_version</c> this build calls with; a library that answers otherwise is not used.</summary>
    private const int AbiVersion = 3;

    private static readonly Library? s_library = Load(out s_libraryStatus);
    private static readonly string s_libraryStatus;

    /// <summary>Whether the AVX512-VNNI pair tiles run in this process (<see cref="PairKernels{TBlock}"/>).</summary>
    public static bool Available => s_library is not null && CpuIsa.Avx512 && CpuHasAvx512Vnni;

    /// <summary>The F16C tile (<c>loom_f16_gemm</c>), or null where it does not run in this process.</summary>
    public static F16GemmPointer F16Gemm { get; } =
        s_library is { } lib && CpuHasF16c ? (F16GemmPointer)Export(lib.Handle, "loom_f16_gemm") : null; // AVX2 and FMA: Load's condition

    /// <summary>
    /// What was decided for each family and why, for logs and benchmark conditions (e.g. "AVX512-VNNI tiles off: this
    /// CPU has no AVX512-VNNI; F16C tile on").
    /// </summary>
    public static string Status => s_library is null
        ? $"off: {s_libraryStatus}"
        : $"AVX512-VNNI tiles {(Available ? "on" : "off: this CPU has no AVX512-VNNI")}; F16C tile {(F16Gemm != null ? "on" : "off: this CPU has no F16C")}";

    /// <summary>Whether this CPU has AVX512-VNNI (CPUID leaf 7, ECX bit 11), which no .NET 10 API reports.</summary>
    public static bool CpuHasAvx512Vnni => X86Base.IsSupported && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0;

    /// <summary>Whether this CPU has F16C's half-to-single conversions (CPUID leaf 1, ECX bit 29), which no .NET 10 API reports.</summary>
    public static bool CpuHasF16c => X86Base.IsSupported && (X86Base.CpuId(1, 0).Ecx & (1 << 29)) != 0;

    /// <summary>The native pair tiles for <typeparamref name="TBlock"/>, or none (null pointers) where there are none or none loaded.</summary>
    public static NativePairKernels PairKernels<TBlock>() where TBlock : struct, IInterleavedBlock => PairKernelsOf<TBlock>.Kernels;

    /// <summary>Each block type's tiles, looked up once per process rather than on every matrix product.</summary>
    private static class PairKernelsOf<TBlock> where TBlock : struct, IInterleavedBlock
    {
        public static readonly NativePairKernels Kernels = Available && TypeName() is { } type ? s_library!.For(type) : default;

        private static string? TypeName() =>
            typeof(TBlock) == typeof(Q8_0x8) ? "q8_0"
            : typeof(TBlock) == typeof(Nibblesx8<Q4_0Format>) ? "q4_0"
            : typeof(TBlock) == typeof(Nibblesx8<Q4_1Format>) ? "q4_1"
            : typeof(TBlock) == typeof(Nibblesx8<Q5_0Format>) ? "q5_0"
            : typeof(TBlock) == typeof(Nibblesx8<Q5_1Format>) ? "q5_1"
            : null;
    }

    private static Library? Load(out string status)
    {
        string? setting = Environment.GetEnvironmentVariable(DisableVariable);
        if (setting is "off" or "0")
        {
            status = $"{DisableVariable}={setting}";
            return null;
        }
        if (!CpuIsa.Avx2)
        {
            status = "this CPU has no AVX2 and FMA";
            return null;
        }
        string path = Path.Combine(AppContext.BaseDirectory, LibraryName);
        if (!NativeLibrary.TryLoad(path, out var handle))
        {
            status = $"{LibraryName} was not built (no C compiler at build time)";
            return null;
        }
        var version = (delegate* unmanaged<int>)Export(handle, "loom_native_abi_version");
        if (version == null || version() != AbiVersion)
        {
            status = $"{LibraryName} is from another build (ABI {(version == null ? "unknown" : version().ToString())}, expected {AbiVersion})";
            return null;
        }
        status = "on";
        return new Library(handle);
    }

    private static nint Export(nint handle, string name) => NativeLibrary.TryGetExport(handle, name, out var address) ? address : 0;

    /// <summary>The loaded library; it stays loaded for the life of the process.</summary>
    private sealed class Library(nint handle)
    {
        public nint Handle => handle;

        /// <summary>The pair tiles of one block type (its ggml name in lower case).</summary>
        public NativePairKernels For(string type) => new(
            (PairKernelPointer)Export(handle, $"loom_{type}_tokens8_pair"), (PairKernelPointer)Export(handle, $"loom_{type}_tokens4_pair"));
    }
}

/// <summary>
/// One block type's native pair tiles, two groups of eight rows at a time: <see cref="Tokens8"/> computes
/// <see cref="IInterleavedBlock.Tokens8Pair"/>, <see cref="Tokens4"/> the same for four tokens (a shape the managed
/// kernels run per group); null where the library has none.
/// </summary>
internal readonly unsafe struct NativePairKernels(PairKernelPointer tokens8, PairKernelPointer tokens4)
{
    /// <summary>Tokens t..t+7 of groups g and g + 1, with the arguments of <c>loom_*_tokens8_pair</c>.</summary>
    public PairKernelPointer Tokens8 { get; } = tokens8;

    /// <summary>Tokens t..t+3 of groups g and g + 1, with the same arguments.</summary>
    public PairKernelPointer Tokens4 { get; } = tokens4;

    /// <summary>Whether both tiles are there.</summary>
    public bool Present => Tokens8 != null && Tokens4 != null;
}
