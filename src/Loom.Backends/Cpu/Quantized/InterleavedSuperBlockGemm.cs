using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// y = x W^T for K-quant weights repacked eight rows side by side (<see cref="InterleavedSuperBlocks"/>), against Q8_K
/// activations. As in <see cref="InterleavedGemm"/>, four activation bytes are broadcast to eight lanes (rows); per
/// 16-value sub-block two chunks' int16 pairs are added (at most 4 · 63 · 127, which fits), multiplied with the
/// eight rows' scales and widened in one madd, and summed over the super-block in int32 (exact: |Σ| &lt; 2^29). The
/// offsets (Q6_K's −32, the mins) come from the activations' 16-value sums, a madd per two sub-blocks. Per super-block
/// then acc = fma(float(Σ), d·d_x, acc) (Q6_K: Σ less its offsets), and acc = fma(float(offsets), −(dmin·d_x), acc) for
/// the types with mins: the same operations for every (row, token) in every shape, so batching stays bit-invariant.
/// Tiles: 8 rows × 8 tokens and 8 × 4 (each group super-block unpacked once for eight or four tokens) and 8 × 1.
/// </summary>
internal static unsafe partial class InterleavedSuperBlockGemm
{
    private const int G = InterleavedSuperBlocks.GroupRows;

    /// <summary>Output columns [rowStart, rowEnd) of y ([numTokens, yStride]) for every token.</summary>
    public static void ComputeRows<TFormat>(InterleavedSuperBlocks w, Q8KActivations x, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) where TFormat : struct, ISuperBlockFormat =>
        ComputeRows<TFormat>(w, x, numTokens, y, yStride, rowStart, rowEnd, CpuIsa.Avx512);

    /// <summary>
    /// As above, with the 512-bit kernels (two groups per zmm) when <paramref name="avx512"/>, else the 256-bit ones:
    /// the same bits either way; tests pass false to keep the AVX2 path tested on an AVX-512 machine.
    /// </summary>
    internal static void ComputeRows<TFormat>(InterleavedSuperBlocks w, Q8KActivations x, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd, bool avx512) where TFormat : struct, ISuperBlockFormat
    {
        var kernels = new Kernels<TFormat>(w, x);
        if (avx512) InterleavedTiles.RunPairs(kernels, w.Blocks * 256, numTokens, y, yStride, rowStart, rowEnd);
        else InterleavedTiles.Run(kernels, w.Blocks * 256, numTokens, y, yStride, rowStart, rowEnd);
    }

    /// <summary>The kernels over one group, and over a pair of groups with the 512-bit kernels at every token count.</summary>
    private readonly struct Kernels<TFormat>(InterleavedSuperBlocks w, Q8KActivations x) : IGroupPairKernels where TFormat : struct, ISuperBlockFormat
    {
        /// <summary>Bytes from one group's super-blocks to the next group's.</summary>
        private long Stride => (long)w.Blocks * w.GroupBlockBytes;

        public void Tokens8Pair(int g, int t, float* y, int yStride, int first, int last) =>
            Tokens8Pair<TFormat>(w.Group(g), Stride, w.Blocks, x, w.Blocks * 256, t, y, yStride, first, last);

        public void Tokens4Pair(int g, int t, float* y, int yStride, int first, int last) =>
            Tokens4Pair<TFormat>(w.Group(g), Stride, w.Blocks, x, w.Blocks * 256, t, y, yStride, first, last);

        public void Token1Pair(int g, int t, float* y, int first, int last) =>
            Token1Pair<TFormat>(w.Group(g), Stride, w.Blocks, x, w.Blocks * 256, t, y, first, last);

        public void Tokens8(int g, int t, float* y, int yStride, int first, int last) =>
            Tokens8<TFormat>(w.Group(g), w.Blocks, x, w.Blocks * 256, t, y, yStride, first, last);

        public void Tokens4(int g, int t, float* y, int yStride, int first, int last) =>
            Tokens4<TFormat>(w.Group(g), w.Blocks, x, w.Blocks * 256, t, y, yStride, first, last);

        public void Token1(int g, int t, float* y, int first, int last) => Token1<TFormat>(w.Group(g), w.Blocks, x, w.Blocks * 256, t, y, first, last);

        public float Scalar(int g, int r, int t) => DotScalar<TFormat>(w.Group(g), w.Blocks, r, x, w.Blocks * 256, t);
    }

    /// <summary>
    /// Tokens t..t+7: each pair of chunk vectors unpacked once for eight tokens. The unpacked vectors and the
    /// sub-block scales take 12 of the 16 ymm registers, so the eight tokens' int32 sums and float accumulators live
    /// in an L1 buffer. Per token the same operations as <see cref="Token1{TFormat}"/> (exact integer sums, then
    /// <see cref="Finish{TFormat}"/> per super-block).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens8<TFormat>(byte* q, int blocks, Q8KActivations x, int n, int t, float* y, int yStride, int first, int last)
        where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n; // token t + j's value k at x0 + j * n + k
        var acc = stackalloc Vector256<float>[8];
        var dots = stackalloc Vector256<int>[8];
        InterleavedGemm.Clear8(acc);
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            for (int j = 0; j < 8; j++) dots[j] = Vector256<int>.Zero;
            for (int g = 0; g < 4; g++)
            {
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScales(scales, out var sa, out var sb, out var sc, out var sd);
                for (int u = 4 * g; u < 4 * g + 4; u += 2)
                {
                    Unpack<TFormat>(gb, u, out var a0, out var a16, out var a32, out var a48);
                    Unpack<TFormat>(gb, u + 1, out var b0, out var b16, out var b32, out var b48);
                    sbyte* xk = x0 + b * 256 + 4 * u;
                    for (int j = 0; j < 8; j++)
                        dots[j] += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, xk + j * n);
                }
            }
            for (int j = 0; j < 8; j++) acc[j] = Finish<TFormat>(acc[j], dots[j], gb, x, blocks, t + j, b);
        }
        InterleavedGemm.StoreTile8(y, yStride, acc, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens4<TFormat>(byte* q, int blocks, Q8KActivations x, int n, int t, float* y, int yStride, int first, int last)
        where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int g = 0; g < 4; g++)
            {
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScales(scales, out var sa, out var sb, out var sc, out var sd);
                for (int u = 4 * g; u < 4 * g + 4; u += 2)
                {
                    Unpack<TFormat>(gb, u, out var a0, out var a16, out var a32, out var a48);
                    Unpack<TFormat>(gb, u + 1, out var b0, out var b16, out var b32, out var b48);
                    int k = b * 256 + 4 * u;
                    i0 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k);
                    i1 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x1 + k);
                    i2 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x2 + k);
                    i3 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x3 + k);
                }
            }
            f0 = Finish<TFormat>(f0, i0, gb, x, blocks, t, b);
            f1 = Finish<TFormat>(f1, i1, gb, x, blocks, t + 1, b);
            f2 = Finish<TFormat>(f2, i2, gb, x, blocks, t + 2, b);
            f3 = Finish<TFormat>(f3, i3, gb, x, blocks, t + 3, b);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
        InterleavedGemm.StoreRows(y + yStride, f1, first, last);
        InterleavedGemm.StoreRows(y + 2L * yStride, f2, first, last);
        InterleavedGemm.StoreRows(y + 3L * yStride, f3, first, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Token1<TFormat>(byte* q, int blocks, Q8KActivations x, int n, int t, float* y, int first, int last)
        where TFormat : struct, ISuperBlockFormat
    {
        int bytes = InterleavedSuperBlocks.GroupBlockSize(TFormat.HasHighBits);
        sbyte* x0 = x.Quants + (long)t * n;
        Vector256<float> f0 = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            // Two chains, so consecutive adds do not wait on each other.
            Vector256<int> i0 = default, i1 = default;
            for (int g = 0; g < 4; g++)
            {
                // Decode streams the weights from DRAM: a quarter of the group super-block's lines per step, ahead.
                int lines = TFormat.HasHighBits ? 8 : 6;
                InterleavedGemm.PrefetchLines(gb + 64 * lines * g, lines);
                sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(TFormat.HasHighBits) + 8 * g;
                SubBlockScales(scales, out var sa, out var sb, out var sc, out var sd);
                int u = 4 * g, k = b * 256 + 4 * u;
                Unpack<TFormat>(gb, u, out var a0, out var a16, out var a32, out var a48);
                Unpack<TFormat>(gb, u + 1, out var b0, out var b16, out var b32, out var b48);
                i0 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k);
                Unpack<TFormat>(gb, u + 2, out a0, out a16, out a32, out a48);
                Unpack<TFormat>(gb, u + 3, out b0, out b16, out b32, out b48);
                i1 += TwoChunks4(a0, a16, a32, a48, b0, b16, b32, b48, sa, sb, sc, sd, x0 + k + 8);
            }
            f0 = Finish<TFormat>(f0, i0 + i1, gb, x, blocks, t, b);
        }
        InterleavedGemm.StoreRows(y, f0, first, last);
    }

    /// <summary>
    /// Chunks u, u + 16, u + 32, u + 48 as unsigned values (chunk u + 32's low bits are vector u's high nibbles,
    /// chunk u + 48's vector u + 16's).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack<TFormat>(byte* gb, int u, out Vector256<byte> c0, out Vector256<byte> c16, out Vector256<byte> c32,
        out Vector256<byte> c48) where TFormat : struct, ISuperBlockFormat
    {
        var low = Vector256.Create((byte)0x0F);
        var v0 = Avx.LoadVector256(gb + 32 * u);
        var v16 = Avx.LoadVector256(gb + 32 * (u + 16));
        c0 = v0 & low;
        c32 = (v0.AsUInt16() >> 4).AsByte() & low;
        c16 = v16 & low;
        c48 = (v16.AsUInt16() >> 4).AsByte() & low;
        if (!TFormat.HasHighBits) return;
        var h = Avx.LoadVector256(gb + InterleavedSuperBlocks.HighBitsOffset + 32 * u).AsUInt16();
        c0 |= ((h & Vector256.Create((ushort)0x0303)) << 4).AsByte();
        c32 |= ((h & Vector256.Create((ushort)0x0C0C)) << 2).AsByte();
        c16 |= (h & Vector256.Create((ushort)0x3030)).AsByte();
        c48 |= ((h & Vector256.Create((ushort)0xC0C0)) >> 2).AsByte();
    }

    /// <summary>
    /// Chunks u and u + 1 (a of u, b of u + 1) of sub-blocks g, g + 4, g + 8, g + 12 against one token (x at chunk u):
    /// each sub-block's two chunks as int16 pairs, times its eight rows' scales, widened to int32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> TwoChunks4(Vector256<byte> a0, Vector256<byte> a16, Vector256<byte> a32, Vector256<byte> a48,
        Vector256<byte> b0, Vector256<byte> b16, Vector256<byte> b32, Vector256<byte> b48,
        Vector256<short> sa, Vector256<short> sb, Vector256<short> sc, Vector256<short> sd, sbyte* x)
    {
        var s0 = Avx2.MultiplyAddAdjacent(Pairs(a0, b0, x), sa) + Avx2.MultiplyAddAdjacent(Pairs(a16, b16, x + 64), sb);
        var s1 = Avx2.MultiplyAddAdjacent(Pairs(a32, b32, x + 128), sc) + Avx2.MultiplyAddAdjacent(Pairs(a48, b48, x + 192), sd);
        return s0 + s1;
    }

    /// <summary>Chunk a against x[0..4) plus chunk b against x[4..8), as int16 pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pairs(Vector256<byte> a, Vector256<byte> b, sbyte* x) =>
        Avx2.MultiplyAddAdjacent(a, InterleavedGemm.Broadcast4(x)) + Avx2.MultiplyAddAdjacent(b, InterleavedGemm.Broadcast4(x + 4));

    /// <summary>The scales of sub-blocks g, g + 4, g + 8, g + 12 (<paramref name="scales"/> at sub-block g), as <see cref="PairScales"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockScales(sbyte* scales, out Vector256<short> sa, out Vector256<short> sb, out Vector256<short> sc, out Vector256<short> sd)
    {
        sa = PairScales(scales);
        sb = PairScales(scales + 32);
        sc = PairScales(scales + 64);
        sd = PairScales(scales + 96);
    }

    /// <summary>Eight rows' int8 scales as int16, each twice (both halves of the row's int32 lane), for a madd with int16 pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairScales(sbyte* scales)
    {
        var s = Avx2.ConvertToVector256Int32(scales);
        return ((s << 16) | (s & Vector256.Create(0xFFFF))).AsInt16();
    }

    /// <summary>The per-super-block float step, with the offsets from the activations' 16-value sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish<TFormat>(Vector256<float> acc, Vector256<int> dot, byte* gb, Q8KActivations x, int blocks, int t, int b)
        where TFormat : struct, ISuperBlockFormat
    {
        var sums = Avx.LoadVector256(x.Sums + ((long)t * blocks + b) * 16).AsInt32();
        short* pairs = (short*)(gb + InterleavedSuperBlocks.OffsetPairsOffset(TFormat.HasHighBits));
        var o0 = Offset(pairs, sums, 0) + Offset(pairs, sums, 1);
        var o1 = Offset(pairs, sums, 2) + Offset(pairs, sums, 3);
        var o2 = Offset(pairs, sums, 4) + Offset(pairs, sums, 5);
        var o3 = Offset(pairs, sums, 6) + Offset(pairs, sums, 7);
        var offsets = (o0 + o1) + (o2 + o3);
        float* d = (float*)(gb + InterleavedSuperBlocks.DOffset(TFormat.HasHighBits));
        var dx = Vector256.Create(x.Scales[(long)t * blocks + b]);
        if (TFormat.OffsetSharesScale)
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot - offsets), Avx.LoadVector256(d) * dx, acc);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Avx.LoadVector256(d) * dx, acc);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(offsets), -(Avx.LoadVector256(d + G) * dx), acc);
    }

    /// <summary>Sub-blocks 2i and 2i + 1: their Σx (one int32 of the sums, broadcast) times each row's offset pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Offset(short* pairs, Vector256<int> sums, int i) =>
        Avx2.MultiplyAddAdjacent(Avx.LoadVector256(pairs + 16 * i), Avx2.PermuteVar8x32(sums, Vector256.Create(i)).AsInt16());

    /// <summary>The same result as the vector kernels for one (row, token), in scalar code.</summary>
    private static float DotScalar<TFormat>(byte* q, int blocks, int r, Q8KActivations x, int n, int t) where TFormat : struct, ISuperBlockFormat
    {
        bool high = TFormat.HasHighBits;
        int bytes = InterleavedSuperBlocks.GroupBlockSize(high);
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = q + (long)b * bytes;
            sbyte* xq = x.Quants + (long)t * n + b * 256;
            short* xs = x.Sums + ((long)t * blocks + b) * 16;
            sbyte* scales = (sbyte*)gb + InterleavedSuperBlocks.ScalesOffset(high);
            short* pairs = (short*)(gb + InterleavedSuperBlocks.OffsetPairsOffset(high));
            int dot = 0, offsets = 0;
            for (int v = 0; v < 256; v++) dot += scales[8 * (v / 16) + r] * Value(gb, high, r, v) * xq[v];
            for (int i = 0; i < 8; i++) offsets += pairs[16 * i + 2 * r] * xs[2 * i] + pairs[16 * i + 2 * r + 1] * xs[2 * i + 1];
            float* d = (float*)(gb + InterleavedSuperBlocks.DOffset(high));
            float dx = x.Scales[(long)t * blocks + b];
            if (TFormat.OffsetSharesScale)
                acc = MathF.FusedMultiplyAdd(dot - offsets, d[r] * dx, acc);
            else
            {
                acc = MathF.FusedMultiplyAdd(dot, d[r] * dx, acc);
                acc = MathF.FusedMultiplyAdd(offsets, -(d[G + r] * dx), acc);
            }
        }
        return acc;
    }

    /// <summary>Row r's unsigned value v of a group super-block.</summary>
    private static int Value(byte* gb, bool high, int r, int v)
    {
        int c = v / 4, at = 4 * r + v % 4;
        int q = gb[32 * (c % 32) + at] >> (c < 32 ? 0 : 4) & 0xF;
        if (high) q |= (gb[InterleavedSuperBlocks.HighBitsOffset + 32 * (c % 16) + at] >> (2 * InterleavedSuperBlocks.HighSlot(c)) & 3) << 4;
        return q;
    }
}

/// <summary>What distinguishes the K-quant types in <see cref="InterleavedSuperBlockGemm"/>.</summary>
internal interface ISuperBlockFormat
{
    /// <summary>Whether the values have more than four bits (Q5_K, Q6_K), kept as two high bits each.</summary>
    static abstract bool HasHighBits { get; }

    /// <summary>Whether the offsets are scaled by d itself (Q6_K's −32), rather than by −dmin (the mins of Q4_K, Q5_K).</summary>
    static abstract bool OffsetSharesScale { get; }
}

internal struct Q4_KFormat : ISuperBlockFormat
{
    public static bool HasHighBits => false;
    public static bool OffsetSharesScale => false;
}

internal struct Q5_KFormat : ISuperBlockFormat
{
    public static bool HasHighBits => true;
    public static bool OffsetSharesScale => false;
}

internal struct Q6_KFormat : ISuperBlockFormat
{
    public static bool HasHighBits => true;
    public static bool OffsetSharesScale => true;
}
