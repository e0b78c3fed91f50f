using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// The 512-bit kernels: two groups of eight rows side by side in one zmm (lanes 0–7 group g, lanes 8–15 group g + 1,
/// rows 8g..8g + 15, contiguous in y), so one activation broadcast feeds sixteen rows and the eight tokens' int32
/// sums live in registers (the 256-bit <see cref="Tokens8{TFormat}"/> keeps them in an L1 buffer). The layout is the
/// same; each zmm is group g's 32 bytes with group g + 1's, one group's super-blocks (<c>stride</c> bytes) further on.
/// Per lane the operations are the 256-bit kernels': the same int16 pairings (so the same saturation-free integer
/// sums), then the same float steps of <see cref="Finish{TFormat}"/> in the same order, so every (row, token) gets the
/// same bits as on the AVX2 path. A group without a partner in the row range runs the 256-bit kernels.
/// </summary>
internal static unsafe partial class InterleavedSuperBlockGemm
{
    /// <summary>
    /// Tokens t..t+7 of groups g and g + 1 (q at group g, group g + 1 at q + stride): each pair of chunk vectors
    /// unpacked once for eight tokens, whose int32 sums stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens8Pair<TFormat>(byte* q, long stride, int blocks, Q8KActivations x, int n, int t, float* y, int yStride,
        int first, int last) where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            for (int g = 0; g < 4; g++)
            {
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScalesPair(scales, stride, out var sa, out var sb, out var sc, out var sd);
                for (int u = 4 * g; u < 4 * g + 4; u += 2)
                {
                    UnpackPair<TFormat>(gb, stride, u, out var a0, out var a16, out var a32, out var a48);
                    UnpackPair<TFormat>(gb, stride, u + 1, out var b0, out var b16, out var b32, out var b48);
                    sbyte* xk = x0 + b * 256 + 4 * u;
                    i0 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk);
                    i1 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + n);
                    i2 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 2 * n);
                    i3 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 3 * n);
                    i4 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 4 * n);
                    i5 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 5 * n);
                    i6 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 6 * n);
                    i7 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + 7 * n);
                }
            }
            f0 = FinishPair<TFormat>(f0, i0, gb, stride, x, blocks, t, b);
            f1 = FinishPair<TFormat>(f1, i1, gb, stride, x, blocks, t + 1, b);
            f2 = FinishPair<TFormat>(f2, i2, gb, stride, x, blocks, t + 2, b);
            f3 = FinishPair<TFormat>(f3, i3, gb, stride, x, blocks, t + 3, b);
            f4 = FinishPair<TFormat>(f4, i4, gb, stride, x, blocks, t + 4, b);
            f5 = FinishPair<TFormat>(f5, i5, gb, stride, x, blocks, t + 5, b);
            f6 = FinishPair<TFormat>(f6, i6, gb, stride, x, blocks, t + 6, b);
            f7 = FinishPair<TFormat>(f7, i7, gb, stride, x, blocks, t + 7, b);
        }
        StoreRowsPair(y, f0, first, last);
        StoreRowsPair(y + yStride, f1, first, last);
        StoreRowsPair(y + 2L * yStride, f2, first, last);
        StoreRowsPair(y + 3L * yStride, f3, first, last);
        StoreRowsPair(y + 4L * yStride, f4, first, last);
        StoreRowsPair(y + 5L * yStride, f5, first, last);
        StoreRowsPair(y + 6L * yStride, f6, first, last);
        StoreRowsPair(y + 7L * yStride, f7, first, last);
    }

    /// <summary>Tokens t..t+3 of groups g and g + 1, as <see cref="Tokens8Pair{TFormat}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens4Pair<TFormat>(byte* q, long stride, int blocks, Q8KActivations x, int n, int t, float* y, int yStride,
        int first, int last) where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int g = 0; g < 4; g++)
            {
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScalesPair(scales, stride, out var sa, out var sb, out var sc, out var sd);
                for (int u = 4 * g; u < 4 * g + 4; u += 2)
                {
                    UnpackPair<TFormat>(gb, stride, u, out var a0, out var a16, out var a32, out var a48);
                    UnpackPair<TFormat>(gb, stride, u + 1, out var b0, out var b16, out var b32, out var b48);
                    int k = b * 256 + 4 * u;
                    i0 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k);
                    i1 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x1 + k);
                    i2 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x2 + k);
                    i3 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x3 + k);
                }
            }
            f0 = FinishPair<TFormat>(f0, i0, gb, stride, x, blocks, t, b);
            f1 = FinishPair<TFormat>(f1, i1, gb, stride, x, blocks, t + 1, b);
            f2 = FinishPair<TFormat>(f2, i2, gb, stride, x, blocks, t + 2, b);
            f3 = FinishPair<TFormat>(f3, i3, gb, stride, x, blocks, t + 3, b);
        }
        StoreRowsPair(y, f0, first, last);
        StoreRowsPair(y + yStride, f1, first, last);
        StoreRowsPair(y + 2L * yStride, f2, first, last);
        StoreRowsPair(y + 3L * yStride, f3, first, last);
    }

    /// <summary>Token t of groups g and g + 1: decode, which streams both groups' weights from DRAM.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Token1Pair<TFormat>(byte* q, long stride, int blocks, Q8KActivations x, int n, int t, float* y, int first, int last)
        where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n;
        Vector512<float> f0 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            // Two chains, so consecutive adds do not wait on each other.
            Vector512<int> i0 = default, i1 = default;
            for (int g = 0; g < 4; g++)
            {
                // A quarter of each group super-block's lines per step, ahead, in both streams. Group g's stream runs
                // into group g + 1, which the other stream has read; there it goes on into group g + 3 instead, the
                // next pair's second stream, so that pair starts with both streams in cache.
                int lines = TFormat.HasHighBits ? 8 : 6;
                byte* lower = gb + 64 * lines * g;
                if (lower + InterleavedGemm.PrefetchDistance >= q + stride) lower += 2 * stride;
                InterleavedGemm.PrefetchLines(lower, lines);
                InterleavedGemm.PrefetchLines(gb + stride + 64 * lines * g, lines);
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScalesPair(scales, stride, out var sa, out var sb, out var sc, out var sd);
                int u = 4 * g, k = b * 256 + 4 * u;
                UnpackPair<TFormat>(gb, stride, u, out var a0, out var a16, out var a32, out var a48);
                UnpackPair<TFormat>(gb, stride, u + 1, out var b0, out var b16, out var b32, out var b48);
                i0 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k);
                UnpackPair<TFormat>(gb, stride, u + 2, out a0, out a16, out a32, out a48);
                UnpackPair<TFormat>(gb, stride, u + 3, out b0, out b16, out b32, out b48);
                i1 += TwoChunks4Pair(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k + 8);
            }
            f0 = FinishPair<TFormat>(f0, i0 + i1, gb, stride, x, blocks, t, b);
        }
        StoreRowsPair(y, f0, first, last);
    }

    /// <summary>
    /// Group g's 32 bytes at p (lanes 0–7) and group g + 1's at p + stride (lanes 8–15): a load and an insert from
    /// memory (Vector512.Create of two halves compiles to two inserts into a register the loop then carries and spills).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> LoadPair(byte* p, long stride) =>
        Avx512F.InsertVector256(Avx.LoadVector256(p).ToVector512Unsafe(), Avx.LoadVector256(p + stride), 1);

    /// <summary>The 512-bit <see cref="Unpack{TFormat}"/>, both groups.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnpackPair<TFormat>(byte* gb, long stride, int u, out Vector512<byte> c0, out Vector512<byte> c16, out Vector512<byte> c32,
        out Vector512<byte> c48) where TFormat : struct, ISuperBlockFormat
    {
        var low = Vector512.Create((byte)0x0F);
        var v0 = LoadPair(gb + 32 * u, stride);
        var v16 = LoadPair(gb + 32 * (u + 16), stride);
        c0 = v0 & low;
        c32 = (v0.AsUInt16() >> 4).AsByte() & low;
        c16 = v16 & low;
        c48 = (v16.AsUInt16() >> 4).AsByte() & low;
        if (!TFormat.HasHighBits) return;
        var h = LoadPair(gb + InterleavedSuperBlocks.HighBitsOffset + 32 * u, stride).AsUInt16();
        c0 |= ((h & Vector512.Create((ushort)0x0303)) << 4).AsByte();
        c32 |= ((h & Vector512.Create((ushort)0x0C0C)) << 2).AsByte();
        c16 |= (h & Vector512.Create((ushort)0x3030)).AsByte();
        c48 |= ((h & Vector512.Create((ushort)0xC0C0)) >> 2).AsByte();
    }

    /// <summary>The 512-bit <see cref="TwoChunks4"/>: the same pairings.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> TwoChunks4Pair(Vector512<byte> a0, Vector512<byte> a16, Vector512<byte> a32, Vector512<byte> a48,
        Vector512<byte> b0, Vector512<byte> b16, Vector512<byte> b32, Vector512<byte> b48,
        Vector512<short> sa, Vector512<short> sb, Vector512<short> sc, Vector512<short> sd, sbyte* x)
    {
        var s0 = Avx512BW.MultiplyAddAdjacent(ChunkPairs(a0, b0, x), sa) + Avx512BW.MultiplyAddAdjacent(ChunkPairs(a16, b16, x + 64), sb);
        var s1 = Avx512BW.MultiplyAddAdjacent(ChunkPairs(a32, b32, x + 128), sc) + Avx512BW.MultiplyAddAdjacent(ChunkPairs(a48, b48, x + 192), sd);
        return s0 + s1;
    }

    /// <summary>Chunk a against x[0..4) plus chunk b against x[4..8), as int16 pairs (four activation bytes broadcast to sixteen lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> ChunkPairs(Vector512<byte> a, Vector512<byte> b, sbyte* x) =>
        Avx512BW.MultiplyAddAdjacent(a, Vector512.Create(*(int*)x).AsSByte())
        + Avx512BW.MultiplyAddAdjacent(b, Vector512.Create(*(int*)(x + 4)).AsSByte());

    /// <summary>The scales of sub-blocks g, g + 4, g + 8, g + 12 of both groups, as <see cref="PairScalesPair"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockScalesPair(sbyte* scales, long stride, out Vector512<short> sa, out Vector512<short> sb, out Vector512<short> sc,
        out Vector512<short> sd)
    {
        sa = PairScalesPair(scales, stride);
        sb = PairScalesPair(scales + 32, stride);
        sc = PairScalesPair(scales + 64, stride);
        sd = PairScalesPair(scales + 96, stride);
    }

    /// <summary>Sixteen rows' int8 scales (group g's at scales, group g + 1's a stride on) as int16, each twice, for a madd with int16 pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> PairScalesPair(sbyte* scales, long stride)
    {
        var s = Avx512F.ConvertToVector512Int32(Vector128.Create(*(long*)scales, *(long*)(scales + stride)).AsSByte());
        return ((s << 16) | (s & Vector512.Create(0xFFFF))).AsInt16();
    }

    /// <summary>
    /// <see cref="Finish{TFormat}"/> for both
    /// groups: the same integer offsets and the same float operations in the same order per lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> FinishPair<TFormat>(Vector512<float> acc, Vector512<int> dot, byte* gb, long stride, Q8KActivations x, int blocks,
        int t, int b) where TFormat : struct, ISuperBlockFormat
    {
        int* sums = (int*)(x.Sums + ((long)t * blocks + b) * 16);
        byte* pairs = gb + InterleavedSuperBlocks.OffsetPairsOffset(TFormat.HasHighBits);
        var o0 = OffsetPair(pairs, stride, sums, 0) + OffsetPair(pairs, stride, sums, 1);
        var o1 = OffsetPair(pairs, stride, sums, 2) + OffsetPair(pairs, stride, sums, 3);
        var o2 = OffsetPair(pairs, stride, sums, 4) + OffsetPair(pairs, stride, sums, 5);
        var o3 = OffsetPair(pairs, stride, sums, 6) + OffsetPair(pairs, stride, sums, 7);
        var offsets = (o0 + o1) + (o2 + o3);
        byte* d = gb + InterleavedSuperBlocks.DOffset(TFormat.HasHighBits);
        var dx = Vector512.Create(x.Scales[(long)t * blocks + b]);
        if (TFormat.OffsetSharesScale)
            return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot - offsets), LoadPair(d, stride).AsSingle() * dx, acc);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), LoadPair(d, stride).AsSingle() * dx, acc);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(offsets), -(LoadPair(d + 4 * G, stride).AsSingle() * dx), acc);
    }

    /// <summary>Sub-blocks 2i and 2i + 1: their Σx (one int32 of the sums, broadcast) times each row's offset pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> OffsetPair(byte* pairs, long stride, int* sums, int i) =>
        Avx512BW.MultiplyAddAdjacent(LoadPair(pairs + 32 * i, stride).AsInt16(), Vector512.Create(sums[i]).AsInt16());

    /// <summary>Sixteen rows' results into y, lanes [first, last).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRowsPair(float* y, Vector512<float> v, int first, int last)
    {
        if (first == 0 && last == 2 * G)
        {
            Avx512F.Store(y, v);
            return;
        }
        for (int r = first; r < last; r++) y[r] = v.GetElement(r);
    }
}
