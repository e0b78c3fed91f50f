using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// How <see cref="InterleavedHalfGemm"/> widens eight fp16 weights (needs AVX2). .NET exposes no F16C
/// (<c>vcvtph2ps</c>) on AVX2 machines, so widening is integer arithmetic: each half sign-extended to 32 bits, shifted
/// 13 up and masked, which reads as the value scaled by 2^-112 (exactly, subnormal halves included).
/// <see cref="Load16"/> is the same arithmetic on sixteen lanes (needs AVX-512): lane for lane the same fp32 values.
/// </summary>
internal unsafe interface IHalfWidening
{
    static abstract Vector256<float> Load8(ushort* halves);

    /// <summary>
    /// Sixteen halves at <paramref name="pair"/>, two adjacent groups' rows at one k (lanes 0–7 the first group, 8–15
    /// the second), with one 16-lane widening from one 32-byte load.
    /// </summary>
    static abstract Vector512<float> Load16(ushort* pair);
}

/// <summary>The 16-lane F16 widening's shared step (AVX-512).</summary>
internal static unsafe class HalfPairs
{
    /// <summary>F16 bits sign-extended, shifted 13 up and masked: the values times 2^-112 (see <see cref="F16Format"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScaledF16(ushort* pair)
    {
        var bits = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)pair));
        return (Avx512F.ShiftLeftLogical(bits, 13) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();
    }
}

/// <summary>The weights themselves: the scaled bits times 2^112 (four instructions per eight values).</summary>
internal unsafe struct ExactHalves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(ushort* halves) => F16Format.Load8((byte*)halves, 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* pair) =>
        HalfPairs.ScaledF16(pair) * Vector512.Create(BitConverter.Int32BitsToSingle(0x77800000)); // 2^112, as Load8
}

/// <summary>bfloat16 weights: zero-extended and shifted 16 up (two instructions, exact for every value).</summary>
internal unsafe struct Bf16Halves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(ushort* halves) => Bf16Format.Load8((byte*)halves, 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* pair)
    {
        var bits = Avx512F.ConvertToVector512UInt32(Vector256.Load(pair));
        return Avx512F.ShiftLeftLogical(bits, 16).AsSingle();
    }
}

/// <summary>
/// The weights scaled by 2^-112, for inputs scaled by 2^112 (<see cref="ScaledInputs"/>): three instructions, none of
/// them on the FMA ports. fma(w · 2^-112, x · 2^112, acc) is fma(w, x, acc) bit for bit, since both scalings are exact
/// and the fused product is not rounded.
/// </summary>
internal unsafe struct ScaledHalves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(ushort* halves)
    {
        var bits = Avx2.ConvertToVector256Int32((short*)halves);
        return (Avx2.ShiftLeftLogical(bits, 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* pair) => HalfPairs.ScaledF16(pair);
}

/// <summary>
/// Per-thread copy of a token tile's inputs times 2^112, for <see cref="ScaledHalves"/>. Exact unless an input is at
/// least 2^16 in magnitude (or not finite), where the product would overflow: then there is no copy and the caller
/// widens exactly instead, which gives the same bits.
/// </summary>
internal sealed unsafe class ScaledInputs
{
    /// <summary>|x| below this times 2^112 stays finite (the largest float is just under 2^128).</summary>
    private const float Limit = 65536f;

    private static readonly float TwoTo112 = BitConverter.Int32BitsToSingle((127 + 112) << 23);

    [ThreadStatic] private static ScaledInputs? t_instance;
    private float[] _values = []; // [tokens, n], pinned; grows to the largest tile seen

    public static ScaledInputs ForThisThread() => t_instance ??= new ScaledInputs();

    /// <summary>Tokens [0, numTokens) of x scaled into this thread's copy (stride n), or null when one would overflow.</summary>
    public float* TryScale(float* x, int xStride, int numTokens, int n)
    {
        long size = (long)numTokens * n;
        if (_values.Length < size) _values = GC.AllocateUninitializedArray<float>(checked((int)size), pinned: true);
        float* dst = (float*)Unsafe.AsPointer(ref _values[0]);
        var inRange = Vector256<float>.AllBitsSet;
        var limit = Vector256.Create(Limit);
        var scale = Vector256.Create(TwoTo112);
        bool tailInRange = true;
        for (int t = 0; t < numTokens; t++)
        {
            float* src = x + (long)t * xStride, d = dst + (long)t * n;
            int k = 0;
            for (; k + 8 <= n; k += 8)
            {
                var v = Vector256.Load(src + k);
                inRange &= Vector256.LessThan(Vector256.Abs(v), limit);
                (v * scale).Store(d + k);
            }
            for (; k < n; k++)
            {
                tailInRange &= MathF.Abs(src[k]) < Limit; // false for NaN too
                d[k] = src[k] * TwoTo112;
            }
        }
        return tailInRange && inRange == Vector256<float>.AllBitsSet ? dst : null;
    }
}

/// <summary>
/// Where the 512-bit tile reads four adjacent groups of one block (32 rows at each k) and how it widens them:
/// <see cref="Load16"/> gives the sixteen rows of two groups at element offset <c>offset</c> from the quad.
/// </summary>
internal unsafe interface IQuadRows
{
    /// <summary>Group g's element 0 in the weights this source reads.</summary>
    static abstract void* Quad(InterleavedHalfWeights w, int g);

    static abstract Vector512<float> Load16(void* quad, int offset);
}

/// <summary>The halves themselves, widened as <typeparamref name="THalves"/> widens them.</summary>
internal unsafe struct HalfQuads<THalves> : IQuadRows where THalves : struct, IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Quad(InterleavedHalfWeights w, int g) => w.Group(g);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(void* quad, int offset) => THalves.Load16((ushort*)quad + offset);
}

/// <summary>
/// The fp32 copy of F16 weights (<see cref="InterleavedHalfWeights.WidenF16ToF32"/>): plain loads, no widening. The
/// same values as <see cref="ExactHalves"/> gives, so the same bits with unscaled inputs.
/// </summary>
internal unsafe struct WidenedQuads : IQuadRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Quad(InterleavedHalfWeights w, int g) => w.WidenedGroup(g);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(void* quad, int offset) => Vector512.Load((float*)quad + offset);
}
