using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// How attention reads one stored KV element type. Kernels are generic over a struct implementing this, so the JIT
/// compiles one specialised copy per type with the loads inlined (no per-element dispatch).
/// </summary>
internal unsafe interface IKvElement
{
    static abstract int Size { get; }
    /// <summary>Eight consecutive elements as floats (AVX2 callers only).</summary>
    static abstract Vector256<float> Load8(byte* p);
    /// <summary>Sixteen consecutive elements as floats (AVX-512 callers only).</summary>
    static abstract Vector512<float> Load16(byte* p);
    /// <summary>Eight elements at <paramref name="low"/> in the lower half and eight at <paramref name="high"/> in the upper (AVX-512 callers only).</summary>
    static abstract Vector512<float> Load8Pair(byte* low, byte* high);
    /// <summary>A row of elements as floats (portable path).</summary>
    static abstract void LoadRow(byte* p, Span<float> destination);
}

internal readonly unsafe struct F32Element : IKvElement
{
    public static int Size => sizeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load8Pair(byte* low, byte* high) => Vector512.Create(Vector256.Load((float*)low), Vector256.Load((float*)high));

    public static void LoadRow(byte* p, Span<float> destination) => new ReadOnlySpan<float>(p, destination.Length).CopyTo(destination);
}

/// <summary>bfloat16 is the top half of a float32: widen each 16-bit value to 32 bits and shift it up.</summary>
internal readonly unsafe struct Bf16Element : IKvElement
{
    public static int Size => sizeof(ushort);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load8Pair(byte* low, byte* high) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Create(Vector128.Load((ushort*)low), Vector128.Load((ushort*)high))), 16).AsSingle();

    public static void LoadRow(byte* p, Span<float> destination) =>
        HalfConvert.BF16ToF32(new ReadOnlySpan<ushort>(p, destination.Length), destination);
}
