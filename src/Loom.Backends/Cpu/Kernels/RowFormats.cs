using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// How a dense weight row is stored and widened to fp32 in registers. The GEMM kernels are generic over it so the
/// JIT emits one specialised loop per storage type (no per-element dispatch, no fp32 copy of the weights).
/// </summary>
internal unsafe interface IRowFormat
{
    static abstract int BytesPerElement { get; }

    /// <summary>Eight consecutive elements starting at element <paramref name="k"/>, as fp32 (needs AVX2).</summary>
    static abstract Vector256<float> Load8(byte* row, int k);

    /// <summary>One element as fp32 (tails and the portable path).</summary>
    static abstract float Load1(byte* row, int k);
}

internal unsafe struct F32Format : IRowFormat
{
    public static int BytesPerElement => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int k) => Vector256.Load((float*)row + k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int k) => ((float*)row)[k];
}

/// <summary>bfloat16 is the top half of an fp32: zero-extend to 32 bits and shift left by 16.</summary>
internal unsafe struct Bf16Format : IRowFormat
{
    public static int BytesPerElement => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int k)
    {
        var bits = Avx2.ConvertToVector256Int32((ushort*)row + k).AsUInt32();
        return Avx2.ShiftLeftLogical(bits, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int k) => BitConverter.Int32BitsToSingle(((ushort*)row)[k] << 16);
}

/// <summary>
/// IEEE half to fp32 without F16C (which .NET does not expose): sign-extend each half to 32 bits and shift it 13 up, so
/// that exponent and mantissa sit where an fp32's do and the sign stays in bit 31; clear the three copies of the sign
/// between them, and what is left reads as the value scaled by 2^-112: multiply by 2^112 (exact, and also right for
/// subnormal halves and signed zeros). Four instructions per eight values. Finite values convert exactly; infinities
/// and NaNs (never present in trained weights) would not.
/// </summary>
internal unsafe struct F16Format : IRowFormat
{
    public static int BytesPerElement => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int k)
    {
        var bits = Avx2.ConvertToVector256Int32((short*)row + k);
        var placed = Avx2.ShiftLeftLogical(bits, 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return placed.AsSingle() * Vector256.Create(BitConverter.Int32BitsToSingle(0x77800000)); // 2^112
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int k) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[k]);
}
