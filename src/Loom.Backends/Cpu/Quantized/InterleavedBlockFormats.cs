using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Q4_0 interleaved: four 32-byte vectors per group block; vector m's low nibbles are values 4m..4m+3 of each row,
/// its high nibbles values 16 + 4m... Σ(q − 8)·x = Σ q·x − 8·Σx, the correction added to the int32 sum.
/// </summary>
internal unsafe struct Q4_0x8 : IInterleavedBlock
{
    public static int QuantBytes => 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tokens4(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last)
    {
        sbyte* x0 = a.Quants(t), x1 = a.Quants(t + 1), x2 = a.Quants(t + 2), x3 = a.Quants(t + 3);
        float* d0 = a.Scales(t), d1 = a.Scales(t + 1), d2 = a.Scales(t + 2), d3 = a.Scales(t + 3);
        int* s0 = a.Sums(t), s1 = a.Sums(t + 1), s2 = a.Sums(t + 2), s3 = a.Sums(t + 3);
        var low = Vector256.Create((byte)0x0F);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* qb = q + b * 128;
            Vector256<short> p0 = default, p1 = default, p2 = default, p3 = default;
            for (int m = 0; m < 4; m++)
            {
                var packed = Avx.LoadVector256(qb + m * 32);
                var lo = packed & low;
                var hi = Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low;
                int k = b * 32 + m * 4;
                p0 += Avx2.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4(x0 + k)) + Avx2.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4(x0 + k + 16));
                p1 += Avx2.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4(x1 + k)) + Avx2.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4(x1 + k + 16));
                p2 += Avx2.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4(x2 + k)) + Avx2.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4(x2 + k + 16));
                p3 += Avx2.MultiplyAddAdjacent(lo, InterleavedGemm.Broadcast4(x3 + k)) + Avx2.MultiplyAddAdjacent(hi, InterleavedGemm.Broadcast4(x3 + k + 16));
            }
            var dw = InterleavedGemm.HalvesToSingles(scales + b * 8);
            f0 = Scale(f0, p0, s0[b], dw, d0[b]);
            f1 = Scale(f1, p1, s1[b], dw, d1[b]);
            f2 = Scale(f2, p2, s2[b], dw, d2[b]);
            f3 = Scale(f3, p3, s3[b], dw, d3[b]);
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
        var low = Vector256.Create((byte)0x0F);
        Vector256<float> f0 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* qb = q + b * 128;
            var packed0 = Avx.LoadVector256(qb);
            var packed1 = Avx.LoadVector256(qb + 32);
            var packed2 = Avx.LoadVector256(qb + 64);
            var packed3 = Avx.LoadVector256(qb + 96);
            int k = b * 32;
            var p0 = Pair(packed0, low, x0 + k) + Pair(packed1, low, x0 + k + 4);
            var p1 = Pair(packed2, low, x0 + k + 8) + Pair(packed3, low, x0 + k + 12);
            f0 = Scale(f0, p0 + p1, s0[b], InterleavedGemm.HalvesToSingles(scales + b * 8), d0[b]);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
    }

    /// <summary>One packed vector's two chunks (low nibbles against x[0..4), high against x[16..20)) as int16 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(Vector256<byte> packed, Vector256<byte> low, sbyte* x) =>
        Avx2.MultiplyAddAdjacent(packed & low, InterleavedGemm.Broadcast4(x))
        + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low, InterleavedGemm.Broadcast4(x + 16));

    /// <summary>acc + float(Σ q·x − 8·Σx) · (d_w · d_x), from the block's int16 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scale(Vector256<float> acc, Vector256<short> pairs, int xSum, Vector256<float> dw, float dx)
    {
        var sum = Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)) + Vector256.Create(-8 * xSum);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), dw * Vector256.Create(dx), acc);
    }

    public static int DotScalar(byte* groupBlock, int r, sbyte* x, int xSum)
    {
        int s = 0;
        for (int m = 0; m < 4; m++)
            for (int i = 0; i < 4; i++)
            {
                int v = groupBlock[m * 32 + r * 4 + i];
                s += (v & 0xF) * x[m * 4 + i] + (v >> 4) * x[16 + m * 4 + i];
            }
        return s - 8 * xSum;
    }
}

/// <summary>
/// Q8_0 interleaved: eight 32-byte vectors per group block, vector c holding values 4c..4c+3 of each row. u8 × s8
/// products need an unsigned side: |w| times x carrying w's sign; each chunk's int16 pairs are widened at once
/// (two of them could overflow int16).
/// </summary>
internal unsafe struct Q8_0x8 : IInterleavedBlock
{
    public static int QuantBytes => 32;

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
