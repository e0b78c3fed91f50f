using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// y = x W^T (+ b) for a dense row-major weight W [out, in] in its stored precision, over a range of output rows:
/// F32 weights, and F16 ones holding an infinity or NaN (F16 and BF16 otherwise run <see cref="InterleavedHalfGemm"/>).
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
