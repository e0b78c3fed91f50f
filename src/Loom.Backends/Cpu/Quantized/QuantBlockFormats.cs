using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// A 32-value ggml weight block multiplied with a Q8 activation block in integers: <see cref="Prepare"/> turns the
/// stored block into unsigned bytes once (shared by every token of a tile), <see cref="Dot"/> gives Σ w·x as eight
/// int32 lanes for one token. The kernels are generic over it, so the JIT emits one loop per block type.
/// </summary>
internal unsafe interface IQuantBlock
{
    static abstract int BlockBytes { get; }

    /// <summary>The block's 32 weights as unsigned bytes (<paramref name="signs"/>: what <see cref="Dot"/> needs besides).</summary>
    static abstract Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs);

    /// <summary>What the integer accumulator of an activation block starts from (computed once per token and block, shared by all rows).</summary>
    static abstract Vector256<int> Start(int xSum);

    /// <summary>start + Σ_j w_j x_j of one block, as eight int32 partial sums (needs AVX2).</summary>
    static abstract Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x);

    /// <summary>The same sum without SIMD (the portable path).</summary>
    static abstract int DotScalar(byte* block, sbyte* x, int xSum);

    /// <summary>Whether the block has a min m (w = d·q + m, Q4_1 and Q5_1), whose m · d_x · Σq_x the kernels add.</summary>
    static virtual bool HasMin => false;

    /// <summary>The block's min m (read only when <see cref="HasMin"/>).</summary>
    static virtual float Min(byte* block) => 0f;
}

/// <summary>Q8_0: f16 d, 32 x int8. u8 x s8 products need an unsigned side: |w| times x carrying w's sign.</summary>
internal unsafe struct Q8_0Block : IQuantBlock
{
    public static int BlockBytes => 34;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        signs = Avx.LoadVector256((sbyte*)block + 2);
        return Avx2.Abs(signs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, Avx2.Sign(x, signs));

    public static int DotScalar(byte* block, sbyte* x, int xSum)
    {
        sbyte* q = (sbyte*)block + 2;
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * x[j];
        return s;
    }
}

/// <summary>
/// Q4_0: f16 d, 16 bytes of nibbles (low = value j, high = value j + 16), w = q - 8. The nibbles are already unsigned,
/// so Σ(q - 8)x = Σ q·x - 8 Σx: the correction starts the integer accumulator.
/// </summary>
internal unsafe struct Q4_0Block : IQuantBlock
{
    public static int BlockBytes => 18;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        signs = default;
        var packed = Sse2.LoadVector128(block + 2);
        var low = Vector128.Create((byte)0x0F);
        var lo = Sse2.And(packed, low);
        var hi = Sse2.And(Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte(), low);
        return Vector256.Create(lo, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256.CreateScalar(-8 * xSum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, x);

    public static int DotScalar(byte* block, sbyte* x, int xSum)
    {
        byte* q = block + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) s += (q[j] & 0xF) * x[j] + (q[j] >> 4) * x[j + 16];
        return s - 8 * xSum;
    }
}

/// <summary>Unsigned-by-signed byte dot products into int32 lanes, and the fp16 block scales.</summary>
internal static unsafe class IntDot
{
    /// <summary>
    /// acc + Σ of each four adjacent u8·s8 products: one vpdpbusd with AVX-VNNI; else maddubs (pairs to int16, which
    /// cannot saturate here: |w| ≤ 128 and |x| ≤ 127) and madd with ones (to int32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> U8S8(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        var pairs = Avx2.MultiplyAddAdjacent(u, s);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
    }

    /// <summary>fp16 → fp32 for every bit pattern, as ggml's table does without F16C (.NET exposes no F16C).</summary>
    private static readonly float* HalfTable = BuildHalfTable();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block) => HalfTable[*(ushort*)block];

    private static float* BuildHalfTable()
    {
        // Process lifetime: 256 KB, never freed.
        var table = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int i = 0; i < 65536; i++) table[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return table;
    }
}
