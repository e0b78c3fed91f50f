using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// The 512-bit kernels (needs AVX-512, <see cref="CpuIsa.Avx512"/>), on the same eight-row layout: one zmm holds two
/// groups at one k (lanes 0–7 group g, lanes 8–15 group g + 1), widened from one 32-byte load, since a block keeps
/// its groups adjacent at each k (<see cref="IHalfWidening.Load16"/>). Tiles: four groups (32 rows, two zmm) × twelve tokens, 24 accumulators
/// (AVX-512 has 32 registers; measured 1.1–1.4× the 32 × 6 tile at 12–24 tokens), then 32 rows × six tokens for the
/// rest of a batch; one token (decode) keeps the AVX2 kernel. BF16 widens in the tile at every batch size, F16 too
/// below <see cref="WidenedMinTokens"/> tokens or without the fp32 copy (<see cref="IQuadRows"/>: halves or the copy).
/// <para>
/// Each lane still computes acc = fma(w[k], x[k], acc) for k = 0, 1, ..., n − 1 from zero, with the same widened fp32
/// weights and inputs as the AVX2 kernels, so every (row, token) output has the AVX2 path's bits, in every batch shape.
/// </para>
/// </summary>
internal static unsafe partial class InterleavedHalfGemm
{
    /// <summary>Groups per 512-bit prefill tile (two zmm of two groups each).</summary>
    private const int WideGroups = 4;

    /// <summary>Tokens per full 512-bit tile (<see cref="Quad12Avx512{TQuad}"/>).</summary>
    private const int WideTileTokens = 12;

    /// <summary>F16 in the 512-bit tile (widened in registers, or read from the fp32 copy for large batches): <see cref="ComputeRowsTiledF16"/>'s bits.</summary>
    internal static void ComputeRowsTiledF16Avx512(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) => TiledF16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd, avx512: true);

    /// <summary>BF16 widened inside the tile, 512-bit: <see cref="ComputeRowsTiledBf16"/>'s bits.</summary>
    internal static void ComputeRowsTiledBf16Avx512(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) => TiledBf16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd, avx512: true);

    /// <summary>
    /// One token tile as <see cref="ComputeTile{THalves}"/> does it, four groups at a time from a multiple of four, so
    /// that each quad lies in one block (32 contiguous rows per k); groups of a quad outside the range (real rows, or
    /// the last block's zero padding) are computed and not stored, so the kernels need no variants.
    /// </summary>
    private static void ComputeTileAvx512<TQuad, THalves>(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        GroupRange range) where TQuad : struct, IQuadRows where THalves : struct, IHalfWidening
    {
        int n = w.InFeatures;
        var results = stackalloc Vector512<float>[2 * WideTileTokens];
        var tokens = stackalloc float*[WideTileTokens];
        int wideEnd = 0; // the twelve-token blocks end here (past numTokens when the last one repeats its last token)
        while (numTokens - wideEnd > TileTokens) wideEnd += WideTileTokens;
        for (int g = range.First & ~(WideGroups - 1); g < range.End; g += WideGroups)
        {
            void* quad = TQuad.Quad(w, g);
            // Twelve-token blocks while more than six tokens are left (a last one of seven to eleven repeats its last
            // token: one 32 × 12 pass beats a 32 × 6 pass and a second one, or a lone-token pass), then one block of
            // two to six, or a lone token below.
            int t = 0;
            for (; t < wideEnd; t += WideTileTokens)
            {
                int live = Math.Min(WideTileTokens, numTokens - t);
                for (int j = 0; j < WideTileTokens; j++) tokens[j] = x + (long)(t + Math.Min(j, live - 1)) * xStride;
                Quad12Avx512<TQuad>(quad, n, tokens, results);
                for (int j = 0; j < live; j++) range.StoreWide(y + (long)(t + j) * yStride, g, WideGroups, results + 2 * j);
            }
            if (numTokens - wideEnd >= 2)
            {
                int live = numTokens - wideEnd;
                for (int j = 0; j < TileTokens; j++) tokens[j] = x + (long)(t + Math.Min(j, live - 1)) * xStride;
                Quad6Avx512<TQuad>(quad, n, tokens, results);
                for (int j = 0; j < live; j++) range.StoreWide(y + (long)(t + j) * yStride, g, WideGroups, results + 2 * j);
            }
        }
        // A lone token stays on the AVX2 kernel: a 512-bit one (eight groups, four zmm chains) measured level for BF16
        // and up to 25 % slower for F16 (one token is bound by streaming the weights, not by FMA).
        if (numTokens - wideEnd == 1) LoneTokenAvx2<THalves>(w, x + (long)(numTokens - 1) * xStride, y + (long)(numTokens - 1) * yStride, range);
    }

    /// <summary>
    /// Thirty-two rows (the four adjacent groups at <paramref name="quad"/>) × six tokens x[0..5]; results[2j] is token
    /// j's first two groups, results[2j + 1] its last two. Each k: two widenings and six broadcasts feed twelve 512-bit FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad6Avx512<TQuad>(void* quad, int n, float** x, Vector512<float>* results)
        where TQuad : struct, IQuadRows
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5];
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector512<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        for (int k = 0; k < n; k++)
        {
            var w0 = TQuad.Load16(quad, k * S);
            var w1 = TQuad.Load16(quad, k * S + 2 * G);
            var v = Vector512.Create(x0[k]);
            a00 = Avx512F.FusedMultiplyAdd(w0, v, a00);
            a01 = Avx512F.FusedMultiplyAdd(w1, v, a01);
            v = Vector512.Create(x1[k]);
            a10 = Avx512F.FusedMultiplyAdd(w0, v, a10);
            a11 = Avx512F.FusedMultiplyAdd(w1, v, a11);
            v = Vector512.Create(x2[k]);
            a20 = Avx512F.FusedMultiplyAdd(w0, v, a20);
            a21 = Avx512F.FusedMultiplyAdd(w1, v, a21);
            v = Vector512.Create(x3[k]);
            a30 = Avx512F.FusedMultiplyAdd(w0, v, a30);
            a31 = Avx512F.FusedMultiplyAdd(w1, v, a31);
            v = Vector512.Create(x4[k]);
            a40 = Avx512F.FusedMultiplyAdd(w0, v, a40);
            a41 = Avx512F.FusedMultiplyAdd(w1, v, a41);
            v = Vector512.Create(x5[k]);
            a50 = Avx512F.FusedMultiplyAdd(w0, v, a50);
            a51 = Avx512F.FusedMultiplyAdd(w1, v, a51);
        }
        results[0] = a00; results[1] = a01; results[2] = a10; results[3] = a11; results[4] = a20; results[5] = a21;
        results[6] = a30; results[7] = a31; results[8] = a40; results[9] = a41; results[10] = a50; results[11] = a51;
    }

    /// <summary>
    /// Thirty-two rows (the four adjacent groups at <paramref name="quad"/>) × twelve tokens x[0..11]: results[2j]
    /// token j's first two groups, results[2j + 1] its last two. Twenty-four accumulators (AVX-512 has 32 registers): each k two widenings and twelve broadcasts feed
    /// twenty-four FMAs, half of <see cref="Quad6Avx512{TQuad}"/>'s widening per FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad12Avx512<TQuad>(void* quad, int n, float** x, Vector512<float>* results)
        where TQuad : struct, IQuadRows
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7], x8 = x[8], x9 = x[9], x10 = x[10], x11 = x[11];
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector512<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        Vector512<float> a60 = default, a61 = default, a70 = default, a71 = default, a80 = default, a81 = default;
        Vector512<float> a90 = default, a91 = default, a100 = default, a101 = default, a110 = default, a111 = default;
        for (int k = 0; k < n; k++)
        {
            var w0 = TQuad.Load16(quad, k * S);
            var w1 = TQuad.Load16(quad, k * S + 2 * G);
            Vector512<float> v;
            v = Vector512.Create(x0[k]);
            a00 = Avx512F.FusedMultiplyAdd(w0, v, a00);
            a01 = Avx512F.FusedMultiplyAdd(w1, v, a01);
            v = Vector512.Create(x1[k]);
            a10 = Avx512F.FusedMultiplyAdd(w0, v, a10);
            a11 = Avx512F.FusedMultiplyAdd(w1, v, a11);
            v = Vector512.Create(x2[k]);
            a20 = Avx512F.FusedMultiplyAdd(w0, v, a20);
            a21 = Avx512F.FusedMultiplyAdd(w1, v, a21);
            v = Vector512.Create(x3[k]);
            a30 = Avx512F.FusedMultiplyAdd(w0, v, a30);
            a31 = Avx512F.FusedMultiplyAdd(w1, v, a31);
            v = Vector512.Create(x4[k]);
            a40 = Avx512F.FusedMultiplyAdd(w0, v, a40);
            a41 = Avx512F.FusedMultiplyAdd(w1, v, a41);
            v = Vector512.Create(x5[k]);
            a50 = Avx512F.FusedMultiplyAdd(w0, v, a50);
            a51 = Avx512F.FusedMultiplyAdd(w1, v, a51);
            v = Vector512.Create(x6[k]);
            a60 = Avx512F.FusedMultiplyAdd(w0, v, a60);
            a61 = Avx512F.FusedMultiplyAdd(w1, v, a61);
            v = Vector512.Create(x7[k]);
            a70 = Avx512F.FusedMultiplyAdd(w0, v, a70);
            a71 = Avx512F.FusedMultiplyAdd(w1, v, a71);
            v = Vector512.Create(x8[k]);
            a80 = Avx512F.FusedMultiplyAdd(w0, v, a80);
            a81 = Avx512F.FusedMultiplyAdd(w1, v, a81);
            v = Vector512.Create(x9[k]);
            a90 = Avx512F.FusedMultiplyAdd(w0, v, a90);
            a91 = Avx512F.FusedMultiplyAdd(w1, v, a91);
            v = Vector512.Create(x10[k]);
            a100 = Avx512F.FusedMultiplyAdd(w0, v, a100);
            a101 = Avx512F.FusedMultiplyAdd(w1, v, a101);
            v = Vector512.Create(x11[k]);
            a110 = Avx512F.FusedMultiplyAdd(w0, v, a110);
            a111 = Avx512F.FusedMultiplyAdd(w1, v, a111);
        }
        results[0] = a00; results[1] = a01; results[2] = a10; results[3] = a11; results[4] = a20; results[5] = a21;
        results[6] = a30; results[7] = a31; results[8] = a40; results[9] = a41; results[10] = a50; results[11] = a51;
        results[12] = a60; results[13] = a61; results[14] = a70; results[15] = a71; results[16] = a80; results[17] = a81;
        results[18] = a90; results[19] = a91; results[20] = a100; results[21] = a101; results[22] = a110; results[23] = a111;
    }
}
