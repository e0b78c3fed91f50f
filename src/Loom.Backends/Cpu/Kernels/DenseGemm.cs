using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// y = x W^T (+ b) for a dense row-major weight W [out, in] in its stored precision, over a range of output rows.
/// The caller splits output rows across threads; inside a range the tokens are taken four at a time, so each weight
/// row is streamed from memory once per step and re-read only from cache for further token blocks.
/// <para>
/// Every (row, token) dot product runs the same operations in the same order whatever the batch shape (one 8-lane
/// FMA accumulator, then a fixed horizontal sum, then the scalar tail), so a sequence's outputs are bit-identical
/// whether it runs alone, chunked, or batched with others.
/// </para>
/// The loops are marked AggressiveOptimization: they run hot from the first token, so tier-0 code is never worth it.
/// </summary>
internal static unsafe class DenseGemm
{
    public static bool UseAvx2 { get; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Bytes ahead of each row pointer to prefetch. Decode streams weights from DRAM and one core keeps too few misses in
    /// flight on its own; prefetching ~8 KB ahead (a few rows further into the matrix) took one core from ~13 to ~21 GB/s.
    /// </summary>
    private const int PrefetchDistance = 8192;

    /// <summary>Input bytes per token tile in the batched path (a quarter of a typical 1 MB L2).</summary>
    private const long InputTileBytes = 256 * 1024;

    /// <summary>
    /// From this many tokens, F16 rows are widened once per token tile into an fp32 panel rather than once per
    /// block of four tokens (two blocks do not repay the panel's store and reload).
    /// </summary>
    private const int PackMinTokens = 8;

    /// <summary>k values of both rows widened at a time: 2 × 512 fp32 = 4 KB, which stays in L1 beside the inputs.</summary>
    private const int PanelChunk = 512;

    /// <summary>Tokens per tile of the packed path: their inputs over one chunk (128 × 2 KB) stay in L2.</summary>
    private const int PackTileTokens = 128;

    /// <param name="w">Weight rows, <paramref name="inFeatures"/> elements each; row o starts at w + o * rowBytes.</param>
    /// <param name="x">[numTokens, xStride] inputs.</param>
    /// <param name="y">[numTokens, yStride] outputs; columns [rowStart, rowEnd) are written.</param>
    /// <param name="bias">[out] or null.</param>
    public static void ComputeRows<TFormat>(byte* w, int inFeatures, float* x, int xStride, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd, float* bias) where TFormat : struct, IRowFormat
    {
        if (UseAvx2) ComputeRowsAvx2<TFormat>(w, inFeatures, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else ComputeRowsPortable<TFormat>(w, inFeatures, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        if (bias != null)
            for (int t = 0; t < numTokens; t++)
                for (int o = rowStart; o < rowEnd; o++)
                    y[(long)t * yStride + o] += bias[o];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeRowsAvx2<TFormat>(byte* w, int n, float* x, int xStride, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd) where TFormat : struct, IRowFormat
    {
        long rowBytes = (long)n * TFormat.BytesPerElement;
        int t = 0;
        if (numTokens >= 4)
        {
            // Tiles of tokens whose inputs stay in L2 while the range's weight rows pass over them two at a time;
            // each pair of rows stays in L1 for all the tile's blocks of four tokens.
            int tileTokens = (int)Math.Clamp(InputTileBytes / ((long)n * sizeof(float)), 4, int.MaxValue) & ~3;
            int fullBlocks = numTokens / 4 * 4;
            if (PacksRows<TFormat>(fullBlocks))
            {
                ComputeBlocksPacked<TFormat>(w, n, x, xStride, fullBlocks, y, yStride, rowStart, rowEnd);
                if ((rowEnd - rowStart) % 2 == 1)
                    for (t = 0; t < fullBlocks; t++)
                        y[(long)t * yStride + rowEnd - 1] = Dot1<TFormat>(w + (rowEnd - 1) * rowBytes, x + (long)t * xStride, n);
            }
            else
                for (int tile = 0; tile < fullBlocks; tile += tileTokens)
                {
                    int tileEnd = Math.Min(fullBlocks, tile + tileTokens);
                    int o = rowStart;
                    for (; o + 2 <= rowEnd; o += 2)
                        for (t = tile; t < tileEnd; t += 4)
                            Dot2Rows4Tokens<TFormat>(w + o * rowBytes, rowBytes, n, x + (long)t * xStride, xStride, y + (long)t * yStride + o, yStride);
                    for (; o < rowEnd; o++)
                        for (t = tile; t < tileEnd; t++)
                            y[(long)t * yStride + o] = Dot1<TFormat>(w + o * rowBytes, x + (long)t * xStride, n);
                }
            t = fullBlocks;
        }
        for (; t < numTokens; t++)
        {
            float* xt = x + (long)t * xStride;
            float* yt = y + (long)t * yStride;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
                Dot4Rows1Token<TFormat>(w + o * rowBytes, rowBytes, n, xt, yt + o);
            for (; o < rowEnd; o++)
                yt[o] = Dot1<TFormat>(w + o * rowBytes, xt, n);
        }
    }

    /// <summary>
    /// Whether a batch of <paramref name="tokens"/> takes the packed path. Only F16, whose widening costs four
    /// instructions per eight values: measured on one core (Zen 3, 128 tokens, the Qwen2.5-0.5B gate and down shapes),
    /// packing took F16 from 8 to 18–19 GMAC/s, while BF16 (two instructions) fell from 19–28 to 14–20, so BF16 and F32
    /// read their rows directly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PacksRows<TFormat>(int tokens) where TFormat : struct, IRowFormat =>
        typeof(TFormat) == typeof(F16Format) && tokens >= PackMinTokens;

    /// <summary>
    /// Row pairs over the first <paramref name="numTokens"/> tokens (a multiple of four) with F16 rows widened
    /// once per token tile into a small fp32 panel, <see cref="PanelChunk"/> values of both rows at a time, instead of
    /// once per four tokens. Each block of four tokens keeps its eight accumulators in scratch between chunks. Widening
    /// is exact and each accumulator lane still sums its k values in order, so every (row, token) result is the same
    /// operations on the same values as in <see cref="Dot2Rows4Tokens"/> and the one-token path: batch invariance holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeBlocksPacked<TFormat>(byte* w, int n, float* x, int xStride, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd) where TFormat : struct, IRowFormat
    {
        long rowBytes = (long)n * TFormat.BytesPerElement;
        var scratch = PackScratch.ForThisThread();
        for (int tile = 0; tile < numTokens; tile += PackTileTokens)
        {
            int tileEnd = Math.Min(numTokens, tile + PackTileTokens);
            for (int o = rowStart; o + 2 <= rowEnd; o += 2)
                PackedRowPair<TFormat>(w + o * rowBytes, rowBytes, n, scratch, x + (long)tile * xStride, xStride,
                    (tileEnd - tile) / 4, y + (long)tile * yStride + o, yStride);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackedRowPair<TFormat>(byte* r0, long rowBytes, int n, PackScratch scratch, float* x, int xStride,
        int blocks, float* y, int yStride) where TFormat : struct, IRowFormat
    {
        byte* r1 = r0 + rowBytes;
        var acc = scratch.Accumulators; // [blocks, 8]: block b's (row r, token j) at 8b + 2j + r
        for (int i = 0; i < blocks * 8; i++) acc[i] = default;
        int vectorEnd = n & ~7;
        for (int k0 = 0; k0 < vectorEnd; k0 += PanelChunk)
        {
            int k1 = Math.Min(vectorEnd, k0 + PanelChunk);
            // The panel is addressed by absolute k: p0[k] for k in [k0, k1).
            float* p0 = scratch.Panel - k0, p1 = scratch.Panel + PanelChunk - k0;
            for (int k = k0; k < k1; k += 8)
            {
                TFormat.Load8(r0, k).Store(p0 + k);
                TFormat.Load8(r1, k).Store(p1 + k);
            }
            for (int b = 0; b < blocks; b++)
                Chunk2Rows4Tokens(p0, p1, x + 4L * b * xStride, xStride, k0, k1, acc + 8 * b);
        }
        for (int b = 0; b < blocks; b++)
            for (int j = 0; j < 4; j++)
            {
                float* xt = x + (4L * b + j) * xStride;
                float* yt = y + (4L * b + j) * yStride;
                yt[0] = Finish<TFormat>(acc[8 * b + 2 * j], r0, xt, vectorEnd, n);
                yt[1] = Finish<TFormat>(acc[8 * b + 2 * j + 1], r1, xt, vectorEnd, n);
            }
    }

    /// <summary>Dot2Rows4Tokens's inner loop over k in [k0, k1) on fp32 panel rows, its accumulators kept in memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk2Rows4Tokens(float* p0, float* p1, float* x, int xStride, int k0, int k1, Vector256<float>* acc)
    {
        float* x0 = x, x1 = x + xStride, x2 = x + 2L * xStride, x3 = x + 3L * xStride;
        Vector256<float> a00 = acc[0], a10 = acc[1], a01 = acc[2], a11 = acc[3];
        Vector256<float> a02 = acc[4], a12 = acc[5], a03 = acc[6], a13 = acc[7];
        for (int k = k0; k < k1; k += 8)
        {
            var w0 = Vector256.Load(p0 + k);
            var w1 = Vector256.Load(p1 + k);
            var v = Vector256.Load(x0 + k);
            a00 = Fma.MultiplyAdd(w0, v, a00);
            a10 = Fma.MultiplyAdd(w1, v, a10);
            v = Vector256.Load(x1 + k);
            a01 = Fma.MultiplyAdd(w0, v, a01);
            a11 = Fma.MultiplyAdd(w1, v, a11);
            v = Vector256.Load(x2 + k);
            a02 = Fma.MultiplyAdd(w0, v, a02);
            a12 = Fma.MultiplyAdd(w1, v, a12);
            v = Vector256.Load(x3 + k);
            a03 = Fma.MultiplyAdd(w0, v, a03);
            a13 = Fma.MultiplyAdd(w1, v, a13);
        }
        acc[0] = a00; acc[1] = a10; acc[2] = a01; acc[3] = a11;
        acc[4] = a02; acc[5] = a12; acc[6] = a03; acc[7] = a13;
    }

    /// <summary>Per-thread scratch of the packed path: the widened panel chunk and the accumulators of one token tile.</summary>
    private sealed class PackScratch
    {
        [ThreadStatic] private static PackScratch? t_instance;
        private readonly float[] _panel = GC.AllocateUninitializedArray<float>(2 * PanelChunk, pinned: true); // [2, PanelChunk]
        private readonly Vector256<float>[] _accumulators = GC.AllocateArray<Vector256<float>>(PackTileTokens / 4 * 8, pinned: true);

        public static PackScratch ForThisThread() => t_instance ??= new PackScratch();
        public float* Panel => (float*)Unsafe.AsPointer(ref _panel[0]);
        public Vector256<float>* Accumulators => (Vector256<float>*)Unsafe.AsPointer(ref _accumulators[0]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish<TFormat>(Vector256<float> acc, byte* row, float* x, int k, int n) where TFormat : struct, IRowFormat
    {
        float s = Vector256.Sum(acc);
        for (; k < n; k++) s += TFormat.Load1(row, k) * x[k];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1<TFormat>(byte* row, float* x, int n) where TFormat : struct, IRowFormat
    {
        var acc = Vector256<float>.Zero;
        int k = 0;
        for (; k + 8 <= n; k += 8)
            acc = Fma.MultiplyAdd(TFormat.Load8(row, k), Vector256.Load(x + k), acc);
        return Finish<TFormat>(acc, row, x, k, n);
    }

    /// <summary>Decode shape: four independent accumulator chains hide FMA latency while streaming four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4Rows1Token<TFormat>(byte* w, long rowBytes, int n, float* x, float* y) where TFormat : struct, IRowFormat
    {
        byte* r0 = w, r1 = w + rowBytes, r2 = w + 2 * rowBytes, r3 = w + 3 * rowBytes;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int k = 0;
        int distance = PrefetchDistance / TFormat.BytesPerElement;
        for (; k + 8 <= n; k += 8)
        {
            if ((k & (64 / TFormat.BytesPerElement - 1)) == 0) // once per 64-byte line of each row
            {
                long ahead = (long)(k + distance) * TFormat.BytesPerElement;
                Sse.Prefetch0(r0 + ahead);
                Sse.Prefetch0(r1 + ahead);
                Sse.Prefetch0(r2 + ahead);
                Sse.Prefetch0(r3 + ahead);
            }
            var xv = Vector256.Load(x + k);
            a0 = Fma.MultiplyAdd(TFormat.Load8(r0, k), xv, a0);
            a1 = Fma.MultiplyAdd(TFormat.Load8(r1, k), xv, a1);
            a2 = Fma.MultiplyAdd(TFormat.Load8(r2, k), xv, a2);
            a3 = Fma.MultiplyAdd(TFormat.Load8(r3, k), xv, a3);
        }
        y[0] = Finish<TFormat>(a0, r0, x, k, n);
        y[1] = Finish<TFormat>(a1, r1, x, k, n);
        y[2] = Finish<TFormat>(a2, r2, x, k, n);
        y[3] = Finish<TFormat>(a3, r3, x, k, n);
    }

    /// <summary>Batched shape: each widened weight vector feeds four tokens (8 accumulators in registers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot2Rows4Tokens<TFormat>(byte* w, long rowBytes, int n, float* x, int xStride, float* y, int yStride)
        where TFormat : struct, IRowFormat
    {
        byte* r0 = w, r1 = w + rowBytes;
        float* x0 = x, x1 = x + xStride, x2 = x + 2L * xStride, x3 = x + 3L * xStride;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        int k = 0;
        int distance = PrefetchDistance / TFormat.BytesPerElement;
        for (; k + 8 <= n; k += 8)
        {
            if ((k & (64 / TFormat.BytesPerElement - 1)) == 0) // once per 64-byte line of each row
            {
                long ahead = (long)(k + distance) * TFormat.BytesPerElement;
                Sse.Prefetch0(r0 + ahead);
                Sse.Prefetch0(r1 + ahead);
            }
            var w0 = TFormat.Load8(r0, k);
            var w1 = TFormat.Load8(r1, k);
            var v = Vector256.Load(x0 + k);
            a00 = Fma.MultiplyAdd(w0, v, a00);
            a10 = Fma.MultiplyAdd(w1, v, a10);
            v = Vector256.Load(x1 + k);
            a01 = Fma.MultiplyAdd(w0, v, a01);
            a11 = Fma.MultiplyAdd(w1, v, a11);
            v = Vector256.Load(x2 + k);
            a02 = Fma.MultiplyAdd(w0, v, a02);
            a12 = Fma.MultiplyAdd(w1, v, a12);
            v = Vector256.Load(x3 + k);
            a03 = Fma.MultiplyAdd(w0, v, a03);
            a13 = Fma.MultiplyAdd(w1, v, a13);
        }
        y[0] = Finish<TFormat>(a00, r0, x0, k, n);
        y[1] = Finish<TFormat>(a10, r1, x0, k, n);
        y[yStride] = Finish<TFormat>(a01, r0, x1, k, n);
        y[yStride + 1] = Finish<TFormat>(a11, r1, x1, k, n);
        y[2L * yStride] = Finish<TFormat>(a02, r0, x2, k, n);
        y[2L * yStride + 1] = Finish<TFormat>(a12, r1, x2, k, n);
        y[3L * yStride] = Finish<TFormat>(a03, r0, x3, k, n);
        y[3L * yStride + 1] = Finish<TFormat>(a13, r1, x3, k, n);
    }

    /// <summary>
    /// Without AVX2/FMA: widen a slice of one weight row into a stack buffer, then Vector&lt;float&gt; dot products
    /// against every token, so the row is still read once per step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ComputeRowsPortable<TFormat>(byte* w, int n, float* x, int xStride, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd) where TFormat : struct, IRowFormat
    {
        const int SliceLength = 512;
        float* slice = stackalloc float[SliceLength];
        long rowBytes = (long)n * TFormat.BytesPerElement;
        for (int o = rowStart; o < rowEnd; o++)
        {
            byte* row = w + o * rowBytes;
            for (int t = 0; t < numTokens; t++) y[(long)t * yStride + o] = 0f;
            for (int k0 = 0; k0 < n; k0 += SliceLength)
            {
                int len = Math.Min(SliceLength, n - k0);
                for (int k = 0; k < len; k++) slice[k] = TFormat.Load1(row, k0 + k);
                var weights = new ReadOnlySpan<float>(slice, len);
                for (int t = 0; t < numTokens; t++)
                    y[(long)t * yStride + o] += DotPortable(weights, new ReadOnlySpan<float>(x + (long)t * xStride + k0, len));
            }
        }
    }

    private static float DotPortable(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var acc = Vector<float>.Zero;
        int k = 0;
        for (; k + Vector<float>.Count <= a.Length; k += Vector<float>.Count)
            acc += new Vector<float>(a[k..]) * new Vector<float>(b[k..]);
        float s = Vector.Sum(acc);
        for (; k < a.Length; k++) s += a[k] * b[k];
        return s;
    }
}
