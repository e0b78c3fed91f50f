using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// The 4- and 5-bit types interleaved (Q4_0, Q4_1, Q5_0, Q5_1): four 32-byte vectors per group block; vector m's low
/// nibbles are values 4m..4m+3 of each row, its high nibbles values 16 + 4m..; the 5-bit types add a vector of fifth
/// bits (<see cref="InterleavedWeights.FifthBits"/>). One kernel for all four: the format (<typeparamref name="TFormat"/>)
/// says whether there are fifth bits, the offset subtracted from every value (Σ(q − o)·x = Σ q·x − o·Σx, the correction
/// added to the int32 sum) and whether there is a min (w = d·q + m: m · d_x·Σx added in float).
/// <para>
/// The products go to int16 pairs (maddubs) and are added there while they fit: a pair is at most 2 · 31 · 127, so two
/// vectors' lo + hi pairs (four pairs) of 5-bit values fit in int16, four vectors' of 4-bit values (llama.cpp's Q4_0x8
/// kernel adds a whole block too), then widened to int32. The four tokens of a tile share each unpacked block.
/// </para>
/// </summary>
internal unsafe struct Nibblesx8<TFormat> : IInterleavedBlock where TFormat : struct, INibbleFormat
{
    public static int GroupBlockBytes => TFormat.HasFifthBit ? 160 : 128;
    public static bool HasMin => TFormat.HasMin;

    /// <summary>
    /// Tokens t..t+7: each group block unpacked once for eight tokens; the eight unpacked vectors stay in registers,
    /// the eight tokens' float accumulators in an L1 buffer. Per token the same operations as <see cref="Token1"/>.
    /// The token loop walks pointers (no index multiplies) and reads Σx and d_x with broadcast loads
    /// (<see cref="ScaleAt"/>): at 16 decodes a step spends most of its time here, and the loop is bound by how many
    /// instructions it issues, not by the multiplies.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens8(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        long n = (long)blocks * 32;
        sbyte* x0 = a.Quants(t);    // token t + j's block b at x0 + j * n + b * 32
        float* d0 = a.Scales(t);    // token t + j's block b at d0[j * blocks + b]
        int* s0 = a.Sums(t);
        var acc = stackalloc Vector256<float>[8];
        InterleavedGemm.Clear8(acc);
        Vector256<float>* accEnd = acc + 8;
        for (int b = 0; b < blocks; b++)
        {
            byte* qb = q + b * GroupBlockBytes;
            Unpack(qb, 0, out var lo0, out var hi0);
            Unpack(qb, 1, out var lo1, out var hi1);
            Unpack(qb, 2, out var lo2, out var hi2);
            Unpack(qb, 3, out var lo3, out var hi3);
            ushort* sb = scales + b * 8 * (HasMin ? 2 : 1);
            var dw = InterleavedGemm.HalvesToSingles(sb);
            var mw = HasMin ? InterleavedGemm.HalvesToSingles(sb + 8) : default;
            sbyte* xj = x0 + b * 32;
            float* dj = d0 + b;
            int* sj = s0 + b;
            for (Vector256<float>* aj = acc; aj < accEnd; aj++, xj += n, dj += blocks, sj += blocks)
                *aj = ScaleAt(*aj, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xj), sj, dw, mw, dj);
        }
        InterleavedGemm.StoreTile8(y, yStride, acc, first, last);
    }

    public static bool HasPairKernel => true;

    /// <summary>
    /// Tokens t..t+7 of two groups in one pass, AVX-512: each zmm holds group g's eight rows in its lower half and group
    /// g + 1's in its upper half (the layout unchanged, the two group blocks joined on load), so the maddubs / madd
    /// pair sums double in width directly, and the eight tokens' 16-row accumulators (8 zmm) stay in registers beside
    /// the unpacked block (8 zmm) instead of an L1 buffer. Per lane exactly <see cref="Tokens8"/>'s integer and float
    /// operations in the same order, so every (row, token) is the same bits as the 256-bit kernels give. Measured 1.5–2.6x
    /// (most near 1.9x) the 256-bit <see cref="Tokens8"/> for Q4_0 / Q4_1 / Q5_0 / Q5_1 at 8, 32 and 128 tokens on
    /// [4864, 896] and [896, 4864] (one thread, CPU time, both in one AVX-512 process, best of 3 alternating runs, load
    /// average 11–13, 2-core Zen 5 EPYC; Q4_0 [4864, 896] x 128: 2828 against 5137 µs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens8Pair(byte* q0, byte* q1, ushort* s0, ushort* s1, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        long n = (long)blocks * 32, n2 = 2 * n, n3 = 3 * n, b1 = blocks, b2 = 2L * blocks, b3 = 3L * blocks;
        sbyte* x0 = a.Quants(t);    // token t + j's block b at x0 + j * n + b * 32
        float* d0 = a.Scales(t);    // token t + j's block b at d0[j * blocks + b]
        int* c0 = a.Sums(t);
        int halves = HasMin ? 16 : 8;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* qa = q0 + b * GroupBlockBytes, qb = q1 + b * GroupBlockBytes;
            Unpack16(qa, qb, 0, out var lo0, out var hi0);
            Unpack16(qa, qb, 1, out var lo1, out var hi1);
            Unpack16(qa, qb, 2, out var lo2, out var hi2);
            Unpack16(qa, qb, 3, out var lo3, out var hi3);
            ushort* sa = s0 + b * halves, sb = s1 + b * halves;
            var dw = InterleavedGemm.HalvesToSingles16(sa, sb);
            var mw = HasMin ? InterleavedGemm.HalvesToSingles16(sa + 8, sb + 8) : default;
            sbyte* xa = x0 + b * 32, xe = xa + 4 * n;
            float* da = d0 + b, de = da + 4 * b1;
            int* ca = c0 + b, ce = ca + 4 * b1;
            f0 = ScaleAt16(f0, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xa), ca, dw, mw, da);
            f1 = ScaleAt16(f1, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xa + n), ca + b1, dw, mw, da + b1);
            f2 = ScaleAt16(f2, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xa + n2), ca + b2, dw, mw, da + b2);
            f3 = ScaleAt16(f3, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xa + n3), ca + b3, dw, mw, da + b3);
            f4 = ScaleAt16(f4, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xe), ce, dw, mw, de);
            f5 = ScaleAt16(f5, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xe + n), ce + b1, dw, mw, de + b1);
            f6 = ScaleAt16(f6, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xe + n2), ce + b2, dw, mw, de + b2);
            f7 = ScaleAt16(f7, BlockSum16(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, xe + n3), ce + b3, dw, mw, de + b3);
        }
        InterleavedGemm.StoreRows16(y, f0, first, last);
        InterleavedGemm.StoreRows16(y + yStride, f1, first, last);
        InterleavedGemm.StoreRows16(y + 2L * yStride, f2, first, last);
        InterleavedGemm.StoreRows16(y + 3L * yStride, f3, first, last);
        InterleavedGemm.StoreRows16(y + 4L * yStride, f4, first, last);
        InterleavedGemm.StoreRows16(y + 5L * yStride, f5, first, last);
        InterleavedGemm.StoreRows16(y + 6L * yStride, f6, first, last);
        InterleavedGemm.StoreRows16(y + 7L * yStride, f7, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens4(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        sbyte* x0 = a.Quants(t), x1 = a.Quants(t + 1), x2 = a.Quants(t + 2), x3 = a.Quants(t + 3);
        float* d0 = a.Scales(t), d1 = a.Scales(t + 1), d2 = a.Scales(t + 2), d3 = a.Scales(t + 3);
        int* s0 = a.Sums(t), s1 = a.Sums(t + 1), s2 = a.Sums(t + 2), s3 = a.Sums(t + 3);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* qb = q + b * GroupBlockBytes;
            // Unpacked once, multiplied with four tokens.
            Unpack(qb, 0, out var lo0, out var hi0);
            Unpack(qb, 1, out var lo1, out var hi1);
            Unpack(qb, 2, out var lo2, out var hi2);
            Unpack(qb, 3, out var lo3, out var hi3);
            ushort* sb = scales + b * 8 * (HasMin ? 2 : 1);
            var dw = InterleavedGemm.HalvesToSingles(sb);
            var mw = HasMin ? InterleavedGemm.HalvesToSingles(sb + 8) : default;
            int k = b * 32;
            f0 = Scale(f0, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x0 + k), s0[b], dw, mw, d0[b]);
            f1 = Scale(f1, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x1 + k), s1[b], dw, mw, d1[b]);
            f2 = Scale(f2, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x2 + k), s2[b], dw, mw, d2[b]);
            f3 = Scale(f3, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x3 + k), s3[b], dw, mw, d3[b]);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
        InterleavedGemm.StoreRows(y + yStride, f1, first, last);
        InterleavedGemm.StoreRows(y + 2L * yStride, f2, first, last);
        InterleavedGemm.StoreRows(y + 3L * yStride, f3, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Token1(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int first, int last)
    {
        sbyte* x0 = a.Quants(t);
        float* d0 = a.Scales(t);
        int* s0 = a.Sums(t);
        Vector256<float> f0 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* qb = q + b * GroupBlockBytes;
            PrefetchAhead(qb, scales + b * 8 * (HasMin ? 2 : 1));
            Unpack(qb, 0, out var lo0, out var hi0);
            Unpack(qb, 1, out var lo1, out var hi1);
            Unpack(qb, 2, out var lo2, out var hi2);
            Unpack(qb, 3, out var lo3, out var hi3);
            ushort* sb = scales + b * 8 * (HasMin ? 2 : 1);
            var mw = HasMin ? InterleavedGemm.HalvesToSingles(sb + 8) : default;
            f0 = Scale(f0, BlockSum(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x0 + b * 32), s0[b], InterleavedGemm.HalvesToSingles(sb), mw, d0[b]);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
    }

    /// <summary>
    /// Decode streams each weight once, from DRAM: ask for every line of the group block
    /// <see cref="InterleavedGemm.PrefetchDistance"/> ahead, and for its scales an eighth as far ahead (their stream
    /// is an eighth as dense), as the BF16 decode kernel does, so the loads do not wait on memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchAhead(byte* qb, ushort* sb)
    {
        InterleavedGemm.PrefetchLines(qb, TFormat.HasFifthBit ? 3 : 2);
        Sse.Prefetch0((byte*)sb + InterleavedGemm.PrefetchDistance / 8);
    }

    /// <summary>
    /// Σ q·x of one block for eight rows: two chains of two vectors (consecutive adds do not wait on each other), each
    /// chain's int16 pairs fitting in int16; the 4-bit types add both chains before widening.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockSum(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
        Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, sbyte* x)
    {
        var ones = Vector256.Create((short)1);
        var pA = Pair(lo0, hi0, x) + Pair(lo1, hi1, x + 4);
        var pB = Pair(lo2, hi2, x + 8) + Pair(lo3, hi3, x + 12);
        return TFormat.HasFifthBit
            ? Avx2.MultiplyAddAdjacent(pA, ones) + Avx2.MultiplyAddAdjacent(pB, ones)
            : Avx2.MultiplyAddAdjacent(pA + pB, ones);
    }

    /// <summary>Vector m of a group block as unsigned values: low nibbles (values 4m..), high nibbles (16 + 4m..), fifth bits added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(byte* qb, int m, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var low = Vector256.Create((byte)0x0F);
        var packed = Avx.LoadVector256(qb + m * 32);
        lo = packed & low;
        hi = (packed.AsUInt16() >> 4).AsByte() & low;
        if (!TFormat.HasFifthBit) return;
        var fifth = Avx.LoadVector256(qb + 128).AsUInt16();
        var bit4 = Vector256.Create((byte)0x10);
        lo |= (fifth << (4 - m)).AsByte() & bit4;
        hi |= (fifth >> m).AsByte() & bit4;
    }

    /// <summary>One vector's two chunks (low values against x[0..4), high against x[16..20)) as int16 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(Vector256<byte> lo, Vector256<byte> hi, sbyte* x) =>
        Avx2.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4(x)) + Avx2.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4(x + 16));

    /// <summary>acc + float(Σ q·x − o·Σx) · (d_w · d_x), then + m_w · (d_x · Σx) where there is a min.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scale(Vector256<float> acc, Vector256<int> sum, int xSum, Vector256<float> dw, Vector256<float> mw, float dx)
    {
        if (TFormat.Offset != 0) sum += Vector256.Create(-TFormat.Offset * xSum);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), dw * Vector256.Create(dx), acc);
        return HasMin ? Fma.MultiplyAdd(mw, Vector256.Create(dx * xSum), acc) : acc;
    }

    /// <summary>
    /// <see cref="Scale"/> with Σx and d_x read where they lie: the same integers and float operations (o·Σx as a
    /// shift, o being a power of two), one broadcast load each instead of a scalar multiply and a register move.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ScaleAt(Vector256<float> acc, Vector256<int> sum, int* xSum, Vector256<float> dw, Vector256<float> mw, float* dx)
    {
        if (TFormat.Offset != 0) sum -= Avx2.BroadcastScalarToVector256(xSum) << TFormat.OffsetShift;
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), dw * Avx.BroadcastScalarToVector256(dx), acc);
        return HasMin ? Fma.MultiplyAdd(mw, Vector256.Create(*dx * *xSum), acc) : acc;
    }

    /// <summary><see cref="BlockSum"/> for two groups at once: the same int16 chains and widening per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> BlockSum16(Vector512<byte> lo0, Vector512<byte> hi0, Vector512<byte> lo1, Vector512<byte> hi1,
        Vector512<byte> lo2, Vector512<byte> hi2, Vector512<byte> lo3, Vector512<byte> hi3, sbyte* x)
    {
        var ones = Vector512.Create((short)1);
        var pA = Pair16(lo0, hi0, x) + Pair16(lo1, hi1, x + 4);
        var pB = Pair16(lo2, hi2, x + 8) + Pair16(lo3, hi3, x + 12);
        return TFormat.HasFifthBit
            ? Avx512BW.MultiplyAddAdjacent(pA, ones) + Avx512BW.MultiplyAddAdjacent(pB, ones)
            : Avx512BW.MultiplyAddAdjacent(pA + pB, ones);
    }

    /// <summary><see cref="Unpack"/> of vector m of two group blocks (<paramref name="qa"/> to the lower half, <paramref name="qb"/> to the upper).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack16(byte* qa, byte* qb, int m, out Vector512<byte> lo, out Vector512<byte> hi)
    {
        var low = Vector512.Create((byte)0x0F);
        var packed = InterleavedGemm.Join(qa + m * 32, qb + m * 32);
        lo = packed & low;
        hi = (packed.AsUInt16() >> 4).AsByte() & low;
        if (!TFormat.HasFifthBit) return;
        var fifth = InterleavedGemm.Join(qa + 128, qb + 128).AsUInt16();
        var bit4 = Vector512.Create((byte)0x10);
        lo |= (fifth << (4 - m)).AsByte() & bit4;
        hi |= (fifth >> m).AsByte() & bit4;
    }

    /// <summary><see cref="Pair"/> for two groups at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Pair16(Vector512<byte> lo, Vector512<byte> hi, sbyte* x) =>
        Avx512BW.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4x16(x)) + Avx512BW.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4x16(x + 16));

    /// <summary><see cref="ScaleAt"/> for two groups at once: the same integers and float operations per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ScaleAt16(Vector512<float> acc, Vector512<int> sum, int* xSum, Vector512<float> dw, Vector512<float> mw, float* dx)
    {
        if (TFormat.Offset != 0) sum -= Vector512.Create(*xSum) << TFormat.OffsetShift;
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sum), dw * Vector512.Create(*dx), acc);
        return HasMin ? Avx512F.FusedMultiplyAdd(mw, Vector512.Create(*dx * *xSum), acc) : acc;
    }

    public static int DotScalar(byte* groupBlock, int r, sbyte* x, int xSum)
    {
        int s = 0;
        for (int m = 0; m < 4; m++)
            for (int i = 0; i < 4; i++)
            {
                int v = groupBlock[m * 32 + r * 4 + i], lo = v & 0xF, hi = v >> 4;
                if (TFormat.HasFifthBit)
                {
                    int fifth = groupBlock[128 + r * 4 + i];
                    lo |= (fifth >> m & 1) << 4;
                    hi |= (fifth >> (4 + m) & 1) << 4;
                }
                s += lo * x[m * 4 + i] + hi * x[16 + m * 4 + i];
            }
        return s - TFormat.Offset * xSum;
    }
}

/// <summary>What distinguishes the nibble types in <see cref="Nibblesx8{TFormat}"/>.</summary>
internal interface INibbleFormat
{
    /// <summary>Whether a vector of fifth bits follows the nibbles (Q5_0, Q5_1).</summary>
    static abstract bool HasFifthBit { get; }

    /// <summary>What every stored value is offset by (w = d·(q − o)): 8 for Q4_0, 16 for Q5_0, 0 for the types with a min.</summary>
    static abstract int Offset { get; }

    /// <summary>log2 of <see cref="Offset"/> where it is not 0 (o·Σx as a shift).</summary>
    static abstract int OffsetShift { get; }

    /// <summary>Whether the block has a min m (w = d·q + m).</summary>
    static abstract bool HasMin { get; }
}

internal struct Q4_0Format : INibbleFormat
{
    public static bool HasFifthBit => false;
    public static int Offset => 8;
    public static bool HasMin => false;
    public static int OffsetShift => 3;
}

internal struct Q4_1Format : INibbleFormat
{
    public static bool HasFifthBit => false;
    public static int Offset => 0;
    public static bool HasMin => true;
    public static int OffsetShift => 0;
}

internal struct Q5_0Format : INibbleFormat
{
    public static bool HasFifthBit => true;
    public static int Offset => 16;
    public static bool HasMin => false;
    public static int OffsetShift => 4;
}

internal struct Q5_1Format : INibbleFormat
{
    public static bool HasFifthBit => true;
    public static int Offset => 0;
    public static bool HasMin => true;
    public static int OffsetShift => 0;
}

/// <summary>
/// Q8_0 interleaved: eight 32-byte vectors per group block, vector c holding values 4c..4c+3 of each row. u8 × s8
/// products need an unsigned side: |w| times x carrying w's sign; each chunk's int16 pairs are widened at once
/// (two of them could overflow int16).
/// </summary>
internal unsafe struct Q8_0x8 : IInterleavedBlock
{
    public static int GroupBlockBytes => 256;
    public static bool HasMin => false;

    /// <summary>
    /// Tokens t..t+7: each weight vector loaded and made unsigned (|w|) once for eight tokens, which leaves per token
    /// and 32 products one broadcast, one vpsignb, one maddubs, one madd and one add. The eight int32 block sums stay
    /// in registers, the float accumulators in an L1 buffer; per token the same operations as <see cref="Token1"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens8(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        long n = (long)blocks * 32, n3 = 3 * n;
        sbyte* x0 = a.Quants(t);    // token t + j's value k at x0 + j * n + k
        float* d0 = a.Scales(t);    // token t + j's block b at d0[j * blocks + b]
        var acc = stackalloc Vector256<float>[8];
        InterleavedGemm.Clear8(acc);
        sbyte* w = (sbyte*)q;
        for (int b = 0; b < blocks; b++)
        {
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            sbyte* p0 = x0 + b * 32, p4 = p0 + 4 * n;
            for (int c = 0; c < 8; c++, p0 += 4, p4 += 4, w += 32)
            {
                var wv = Avx.LoadVector256(w);
                var u = Avx2.Abs(wv);
                i0 = IntDot.U8S8(i0, u, Avx2.Sign(InterleavedGemm.Broadcast4(p0), wv));
                i1 = IntDot.U8S8(i1, u, Avx2.Sign(InterleavedGemm.Broadcast4(p0 + n), wv));
                i2 = IntDot.U8S8(i2, u, Avx2.Sign(InterleavedGemm.Broadcast4(p0 + 2 * n), wv));
                i3 = IntDot.U8S8(i3, u, Avx2.Sign(InterleavedGemm.Broadcast4(p0 + n3), wv));
                i4 = IntDot.U8S8(i4, u, Avx2.Sign(InterleavedGemm.Broadcast4(p4), wv));
                i5 = IntDot.U8S8(i5, u, Avx2.Sign(InterleavedGemm.Broadcast4(p4 + n), wv));
                i6 = IntDot.U8S8(i6, u, Avx2.Sign(InterleavedGemm.Broadcast4(p4 + 2 * n), wv));
                i7 = IntDot.U8S8(i7, u, Avx2.Sign(InterleavedGemm.Broadcast4(p4 + n3), wv));
            }
            var dw = InterleavedGemm.HalvesToSingles(scales + b * 8);
            float* db = d0 + b;
            acc[0] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), dw * Vector256.Create(db[0]), acc[0]);
            acc[1] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), dw * Vector256.Create(db[blocks]), acc[1]);
            acc[2] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), dw * Vector256.Create(db[2 * blocks]), acc[2]);
            acc[3] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), dw * Vector256.Create(db[3 * blocks]), acc[3]);
            acc[4] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i4), dw * Vector256.Create(db[4 * blocks]), acc[4]);
            acc[5] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i5), dw * Vector256.Create(db[5 * blocks]), acc[5]);
            acc[6] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i6), dw * Vector256.Create(db[6 * blocks]), acc[6]);
            acc[7] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i7), dw * Vector256.Create(db[7 * blocks]), acc[7]);
        }
        InterleavedGemm.StoreTile8(y, yStride, acc, first, last);
    }

    /// <summary>
    /// False: the 256-bit AVX-VNNI <see cref="Tokens8"/> measured faster than <see cref="Tokens8Pair"/> (one thread, CPU
    /// time, both in one AVX-512 process, best of 4 alternating runs at load average 15–18 on the 2-core Zen 5 EPYC:
    /// [4864, 896] 8 / 32 / 128 tokens 318 / 1221 / 4962 µs against 330 / 1409 / 5456; [896, 4864] 313 / 1373 / 5012
    /// against 333 / 1370 / 5601), so the tile loop keeps it; the pair kernel stays, tested, for machines whose
    /// 512-bit units change that.
    /// </summary>
    public static bool HasPairKernel => false;

    /// <summary>
    /// Tokens t..t+7 of two groups in one pass, AVX-512 (group g's rows in each zmm's lower half, g + 1's in the upper).
    /// .NET has no 512-bit VNNI and AVX-512 no vpsignb: x takes w's sign by a blend of x and −x under w's sign mask
    /// (computed once per weight vector), then maddubs + madd with ones, so per token and 64 products one broadcast,
    /// one subtract, one blend, one maddubs, one madd and one add, against three instructions per 32 products with
    /// 256-bit AVX-VNNI, which wins (<see cref="HasPairKernel"/>). The integer block sums are exact either way
    /// (maddubs cannot saturate: |w| ≤ 128, |x| ≤ 127), and the float operations per lane are <see cref="Tokens8"/>'s,
    /// so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens8Pair(byte* q0, byte* q1, ushort* s0, ushort* s1, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        long n = (long)blocks * 32, n2 = 2 * n, n3 = 3 * n;
        sbyte* x0 = a.Quants(t);    // token t + j's value k at x0 + j * n + k
        float* d0 = a.Scales(t);    // token t + j's block b at d0[j * blocks + b]
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        byte* wa = q0, wb = q1;
        for (int b = 0; b < blocks; b++)
        {
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            sbyte* p0 = x0 + b * 32, p4 = p0 + 4 * n;
            for (int c = 0; c < 8; c++, p0 += 4, p4 += 4, wa += 32, wb += 32)
            {
                var wv = InterleavedGemm.Join(wa, wb).AsSByte();
                var u = Avx512BW.Abs(wv);
                var negative = Vector512.LessThan(wv, Vector512<sbyte>.Zero);
                i0 = Dot16(i0, u, negative, p0);
                i1 = Dot16(i1, u, negative, p0 + n);
                i2 = Dot16(i2, u, negative, p0 + n2);
                i3 = Dot16(i3, u, negative, p0 + n3);
                i4 = Dot16(i4, u, negative, p4);
                i5 = Dot16(i5, u, negative, p4 + n);
                i6 = Dot16(i6, u, negative, p4 + n2);
                i7 = Dot16(i7, u, negative, p4 + n3);
            }
            var dw = InterleavedGemm.HalvesToSingles16(s0 + b * 8, s1 + b * 8);
            float* db = d0 + b;
            f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0), dw * Vector512.Create(db[0]), f0);
            f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i1), dw * Vector512.Create(db[blocks]), f1);
            f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i2), dw * Vector512.Create(db[2 * blocks]), f2);
            f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i3), dw * Vector512.Create(db[3 * blocks]), f3);
            f4 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i4), dw * Vector512.Create(db[4 * blocks]), f4);
            f5 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i5), dw * Vector512.Create(db[5 * blocks]), f5);
            f6 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i6), dw * Vector512.Create(db[6 * blocks]), f6);
            f7 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i7), dw * Vector512.Create(db[7 * blocks]), f7);
        }
        InterleavedGemm.StoreRows16(y, f0, first, last);
        InterleavedGemm.StoreRows16(y + yStride, f1, first, last);
        InterleavedGemm.StoreRows16(y + 2L * yStride, f2, first, last);
        InterleavedGemm.StoreRows16(y + 3L * yStride, f3, first, last);
        InterleavedGemm.StoreRows16(y + 4L * yStride, f4, first, last);
        InterleavedGemm.StoreRows16(y + 5L * yStride, f5, first, last);
        InterleavedGemm.StoreRows16(y + 6L * yStride, f6, first, last);
        InterleavedGemm.StoreRows16(y + 7L * yStride, f7, first, last);
    }

    /// <summary>acc + Σ of each four adjacent |w|·(x with w's sign): the four activation bytes broadcast, negated where w &lt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot16(Vector512<int> acc, Vector512<byte> u, Vector512<sbyte> negative, sbyte* x)
    {
        var xv = InterleavedGemm.Broadcast4x16(x);
        var signed = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - xv, xv);
        var pairs = Avx512BW.MultiplyAddAdjacent(u, signed);
        return acc + Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens4(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        sbyte* x0 = a.Quants(t), x1 = a.Quants(t + 1), x2 = a.Quants(t + 2), x3 = a.Quants(t + 3);
        float* d0 = a.Scales(t), d1 = a.Scales(t + 1), d2 = a.Scales(t + 2), d3 = a.Scales(t + 3);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++)
        {
            sbyte* qb = (sbyte*)q + b * 256;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int c = 0; c < 8; c++)
            {
                var wv = Avx.LoadVector256(qb + c * 32);
                var u = Avx2.Abs(wv);
                int k = b * 32 + c * 4;
                i0 = IntDot.U8S8(i0, u, Avx2.Sign(InterleavedGemm.Broadcast4(x0 + k), wv));
                i1 = IntDot.U8S8(i1, u, Avx2.Sign(InterleavedGemm.Broadcast4(x1 + k), wv));
                i2 = IntDot.U8S8(i2, u, Avx2.Sign(InterleavedGemm.Broadcast4(x2 + k), wv));
                i3 = IntDot.U8S8(i3, u, Avx2.Sign(InterleavedGemm.Broadcast4(x3 + k), wv));
            }
            var dw = InterleavedGemm.HalvesToSingles(scales + b * 8);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), dw * Vector256.Create(d0[b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), dw * Vector256.Create(d1[b]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), dw * Vector256.Create(d2[b]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), dw * Vector256.Create(d3[b]), f3);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
        InterleavedGemm.StoreRows(y + yStride, f1, first, last);
        InterleavedGemm.StoreRows(y + 2L * yStride, f2, first, last);
        InterleavedGemm.StoreRows(y + 3L * yStride, f3, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Token1(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int first, int last)
    {
        sbyte* x0 = a.Quants(t);
        float* d0 = a.Scales(t);
        Vector256<float> f0 = default;
        for (int b = 0; b < blocks; b++)
        {
            sbyte* qb = (sbyte*)q + b * 256;
            InterleavedGemm.PrefetchLines((byte*)qb, 4); // from DRAM, as in Nibblesx8's Token1
            Sse.Prefetch0((byte*)(scales + b * 8) + InterleavedGemm.PrefetchDistance / 16);
            int k = b * 32;
            // Two chains of four chunks, so consecutive adds do not wait on each other.
            var i0 = Chunk(Vector256<int>.Zero, qb, x0 + k);
            var i1 = Chunk(Vector256<int>.Zero, qb + 32, x0 + k + 4);
            i0 = Chunk(i0, qb + 64, x0 + k + 8);
            i1 = Chunk(i1, qb + 96, x0 + k + 12);
            i0 = Chunk(i0, qb + 128, x0 + k + 16);
            i1 = Chunk(i1, qb + 160, x0 + k + 20);
            i0 = Chunk(i0, qb + 192, x0 + k + 24);
            i1 = Chunk(i1, qb + 224, x0 + k + 28);
            var dw = InterleavedGemm.HalvesToSingles(scales + b * 8);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0 + i1), dw * Vector256.Create(d0[b]), f0);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(Vector256<int> acc, sbyte* w, sbyte* x)
    {
        var wv = Avx.LoadVector256(w);
        return IntDot.U8S8(acc, Avx2.Abs(wv), Avx2.Sign(InterleavedGemm.Broadcast4(x), wv));
    }

    public static int DotScalar(byte* groupBlock, int r, sbyte* x, int xSum)
    {
        sbyte* w = (sbyte*)groupBlock;
        int s = 0;
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < 4; i++) s += w[c * 32 + r * 4 + i] * x[c * 4 + i];
        return s;
    }
}
