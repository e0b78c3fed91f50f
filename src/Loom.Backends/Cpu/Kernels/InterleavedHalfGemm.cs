using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu.Native;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// y = x W^T for F16 or BF16 weights repacked eight rows side by side (<see cref="InterleavedHalfWeights"/>). Each lane of an
/// accumulator is one row: eight rows' halves at one k are widened with one load and multiplied by the token's input
/// at k broadcast to all lanes, so no horizontal sums are needed and one widening feeds every token of the tile.
/// <para>
/// Tiles: two groups (16 rows) × six tokens, twelve accumulators, for prefill and batches of six and more; two blocks
/// of eight groups × one token for decode and the leftover tokens (a sequential stream per block; eight independent
/// chains per block hide the FMA latency).
/// Every (row, token) output is the same computation in every shape, acc = fma(w[k], x[k], acc) for k = 0, 1, ...,
/// n − 1 starting from zero, so batching stays bit-invariant, and the portable path does the same in scalar code and
/// gives the same bits.
/// </para>
/// </summary>
internal static unsafe partial class InterleavedHalfGemm
{
    private const int G = InterleavedHalfWeights.GroupRows;

    /// <summary>Halves from one k to the next in a group (<see cref="InterleavedHalfWeights.KStride"/>).</summary>
    private const int S = InterleavedHalfWeights.KStride;

    /// <summary>Groups per block, which the one-token kernel reads as one sequential stream (two blocks at a time).</summary>
    private const int B = InterleavedHalfWeights.BlockGroups;

    /// <summary>Tokens per prefill tile.</summary>
    private const int TileTokens = 6;

    /// <summary>Input bytes per token tile (a quarter of a typical 1 MB L2), as in <see cref="DenseGemm"/>.</summary>
    private const long InputTileBytes = 256 * 1024;

    /// <summary>
    /// Whether batches read <see cref="InterleavedHalfWeights.WidenF16ToF32"/>'s copy on this machine: the AVX2 packed
    /// path, or the 512-bit tile from <see cref="WidenedMinTokens"/> tokens; not where the native F16C kernels run
    /// instead of the AVX2 ones (they widen in registers).
    /// </summary>
    public static bool ReadsWidenedF16 => DenseGemm.UseAvx2 && (CpuIsa.Avx512 || NativeCpuKernels.F16Gemm == null);

    /// <summary>
    /// Fewest tokens for which the 512-bit F16 tile reads the fp32 copy instead of widening the halves in registers.
    /// Measured on one Zen 4 core (`kernels --types f16 --widen-f16`, gate and down shapes, two rounds): the copy lost
    /// at 12 tokens (it reads twice the bytes), was level at 32, 1.04–1.09× at 48, 1.1–1.3× at 64 and 1.13–1.2× at 128.
    /// </summary>
    internal const int WidenedMinTokens = 48;

    /// <summary>
    /// Output columns [rowStart, rowEnd) of y ([numTokens, yStride]) for every token, F16 weights: batches of
    /// <see cref="PackMinTokens"/> or more over widened panels (<see cref="ComputeRowsPacked{THalves}"/>), fewer
    /// tokens widening in the tile (<see cref="ComputeRowsTiledF16"/>); with AVX-512 always the 512-bit tile
    /// (<see cref="ComputeRowsTiledF16Avx512"/>), over the fp32 copy where there is one from <see cref="WidenedMinTokens"/> tokens;
    /// on AVX2 machines with the native F16C kernels (<see cref="NativeCpuKernels.F16Gemm"/>) those, for every batch size.
    /// </summary>
    public static void ComputeRowsF16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd)
    {
        if (!DenseGemm.UseAvx2)
            ComputeRowsPortable<F16Format>(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else if (CpuIsa.Avx512) // widened in the 32 x 12 tile at every batch size: a 512-bit packed variant measured 0.81-0.96x of it
            ComputeRowsTiledF16Avx512(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else if (NativeCpuKernels.F16Gemm is var native && native != null) // the same bits with vcvtph2ps
            native(w.Group(0), w.InFeatures, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else if (numTokens >= PackMinTokens)
            ComputeRowsPacked<ExactHalves>(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd); // widened once per tile: exactly, unscaled
        else
            ComputeRowsTiledF16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
    }

    /// <summary>
    /// The same for BF16 weights, always widened in the tile (one shift; see <see cref="PackMinTokens"/>). Both
    /// entry points take the 512-bit kernels where <see cref="CpuIsa.Avx512"/> holds (the same bits).
    /// </summary>
    public static void ComputeRowsBf16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd)
    {
        if (!DenseGemm.UseAvx2)
            ComputeRowsPortable<Bf16Format>(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else if (CpuIsa.Avx512)
            ComputeRowsTiledBf16Avx512(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else
            ComputeRowsTiledBf16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
    }

    /// <summary>
    /// F16 widened inside the tile (needs AVX2): each token tile's inputs are scaled by 2^112 once
    /// (<see cref="ScaledInputs"/>) so that the weights widen without a multiply.
    /// </summary>
    internal static void ComputeRowsTiledF16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) => TiledF16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd, avx512: false);

    /// <summary>BF16 widened inside the tile (needs AVX2; a shift, so no scaled inputs).</summary>
    internal static void ComputeRowsTiledBf16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) => TiledBf16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd, avx512: false);

    /// <summary>Token tiles of F16 inputs, scaled where they can be, each through the 256- or 512-bit tile (the same bits).</summary>
    private static void TiledF16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd, bool avx512)
    {
        var range = new GroupRange(rowStart, rowEnd);
        int n = w.InFeatures;
        int tileTokens = TokensPerTile(n);
        if (avx512 && numTokens >= WidenedMinTokens && w.HasWidenedCopy)
        {
            for (int tile = 0; tile < numTokens; tile += tileTokens)
                ComputeTileAvx512<WidenedQuads, ExactHalves>(w, x + (long)tile * xStride, xStride, Math.Min(tileTokens, numTokens - tile),
                    y + (long)tile * yStride, yStride, range);
            return;
        }
        var inputs = ScaledInputs.ForThisThread();
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int count = Math.Min(tileTokens, numTokens - tile);
            float* xt = x + (long)tile * xStride, yt = y + (long)tile * yStride;
            float* scaled = inputs.TryScale(xt, xStride, count, n);
            if (scaled != null) Tile<ScaledHalves>(w, scaled, n, count, yt, yStride, range, avx512);
            else Tile<ExactHalves>(w, xt, xStride, count, yt, yStride, range, avx512);
        }
    }

    /// <summary>Token tiles of BF16 inputs, each through the 256- or 512-bit tile (the same bits).</summary>
    private static void TiledBf16(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd, bool avx512)
    {
        var range = new GroupRange(rowStart, rowEnd);
        int tileTokens = TokensPerTile(w.InFeatures);
        for (int tile = 0; tile < numTokens; tile += tileTokens)
            Tile<Bf16Halves>(w, x + (long)tile * xStride, xStride, Math.Min(tileTokens, numTokens - tile), y + (long)tile * yStride, yStride, range, avx512);
    }

    /// <summary>One token tile through <see cref="ComputeTileAvx512{TQuad, THalves}"/> or <see cref="ComputeTile{THalves}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<THalves>(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        GroupRange range, bool avx512) where THalves : struct, IHalfWidening
    {
        if (avx512) ComputeTileAvx512<HalfQuads<THalves>, THalves>(w, x, xStride, numTokens, y, yStride, range);
        else ComputeTile<THalves>(w, x, xStride, numTokens, y, yStride, range);
    }

    /// <summary>Tokens per tile, a multiple of the block: their inputs fill about <see cref="InputTileBytes"/>.</summary>
    private static int TokensPerTile(int n) => (int)Math.Max(InputTileBytes / ((long)n * sizeof(float)) / TileTokens, 1) * TileTokens;

    /// <summary>
    /// One token tile: blocks of six tokens over pairs of groups (a last block of two to five tokens runs as six with
    /// the last token repeated and not stored: one pass over the weights beats several), then a lone last token
    /// over groups four at a time.
    /// </summary>
    private static void ComputeTile<THalves>(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        GroupRange range) where THalves : struct, IHalfWidening
    {
        int n = w.InFeatures;
        var results = stackalloc Vector256<float>[2 * TileTokens]; // [tokens, groups] of the last block
        var tokens = stackalloc float*[TileTokens];
        int blocked = numTokens % TileTokens == 1 ? numTokens - 1 : numTokens;
        // Pairs from an even group lie in one block; a pair's group outside the range (real rows, or the last block's
        // zero padding) is computed and not stored.
        for (int g = range.First & ~1; g < range.End; g += 2)
        {
            int g1 = g + 1;
            for (int t = 0; t < blocked; t += TileTokens)
            {
                int live = Math.Min(TileTokens, blocked - t);
                for (int j = 0; j < TileTokens; j++) tokens[j] = x + (long)(t + Math.Min(j, live - 1)) * xStride;
                Pair6<THalves>(w.Group(g), w.Group(g1), n, tokens, results);
                for (int j = 0; j < live; j++)
                {
                    float* yt = y + (long)(t + j) * yStride;
                    range.Store(yt, g, results[2 * j]);
                    range.Store(yt, g1, results[2 * j + 1]);
                }
            }
        }
        if (blocked < numTokens) LoneTokenAvx2<THalves>(w, x + (long)blocked * xStride, y + (long)blocked * yStride, range);
    }

    /// <summary>One token over the range's blocks (decode, and a tile's lone last token).</summary>
    private static void LoneTokenAvx2<THalves>(InterleavedHalfWeights w, float* x, float* y, GroupRange range) where THalves : struct, IHalfWidening
    {
        var results = stackalloc Vector256<float>[2 * B];
        int block = range.First / B;
        // Two blocks at a time where the range holds both (see Block2), then a last one alone.
        for (; (block + 1) * B < range.End; block += 2)
        {
            int first = block * B;
            Block2<THalves>(w.Group(first), w.Group(first + B), w.InFeatures, x, results);
            StoreGroups(y, range, first, 2 * B, results);
        }
        if (block * B < range.End)
        {
            Block1<THalves>(w.Group(block * B), w.InFeatures, x, results);
            StoreGroups(y, range, block * B, B, results);
        }
    }

    /// <summary>
    /// Groups [first, first + count) from results, those inside the range only: a block's groups outside it (real
    /// rows, or zero padding past the last) are computed, not stored.
    /// </summary>
    private static void StoreGroups(float* y, GroupRange range, int first, int count, Vector256<float>* results)
    {
        for (int g = Math.Max(first, range.First); g < Math.Min(first + count, range.End); g++) range.Store(y, g, results[g - first]);
    }

    /// <summary>Sixteen rows (groups g0, g1) × six tokens x[0..5]; results[2j + h] is token j's result for group h.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pair6<THalves>(ushort* g0, ushort* g1, int n, float** x, Vector256<float>* results)
        where THalves : struct, IHalfWidening
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5];
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector256<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        for (int k = 0; k < n; k++)
        {
            var w0 = THalves.Load8(g0 + k * S);
            var w1 = THalves.Load8(g1 + k * S);
            var v = Avx.BroadcastScalarToVector256(x0 + k);
            a00 = Fma.MultiplyAdd(w0, v, a00);
            a01 = Fma.MultiplyAdd(w1, v, a01);
            v = Avx.BroadcastScalarToVector256(x1 + k);
            a10 = Fma.MultiplyAdd(w0, v, a10);
            a11 = Fma.MultiplyAdd(w1, v, a11);
            v = Avx.BroadcastScalarToVector256(x2 + k);
            a20 = Fma.MultiplyAdd(w0, v, a20);
            a21 = Fma.MultiplyAdd(w1, v, a21);
            v = Avx.BroadcastScalarToVector256(x3 + k);
            a30 = Fma.MultiplyAdd(w0, v, a30);
            a31 = Fma.MultiplyAdd(w1, v, a31);
            v = Avx.BroadcastScalarToVector256(x4 + k);
            a40 = Fma.MultiplyAdd(w0, v, a40);
            a41 = Fma.MultiplyAdd(w1, v, a41);
            v = Avx.BroadcastScalarToVector256(x5 + k);
            a50 = Fma.MultiplyAdd(w0, v, a50);
            a51 = Fma.MultiplyAdd(w1, v, a51);
        }
        results[0] = a00; results[1] = a01; results[2] = a10; results[3] = a11; results[4] = a20; results[5] = a21;
        results[6] = a30; results[7] = a31; results[8] = a40; results[9] = a41; results[10] = a50; results[11] = a51;
    }

    /// <summary>
    /// Sixty-four rows (one block: eight groups side by side at each k) × one token, reading the block as one
    /// sequential stream of 128 bytes per k with no software prefetch: a range's last block (the others go in pairs,
    /// <see cref="Block2{THalves}"/>). Measured from DRAM on one Zen 4 core
    /// (`kernels --tokens 1 --resident-mb 1000`, the three Qwen2.5-0.5B shapes, two rounds): BF16 24–29 GB/s and F16
    /// 16–28 where four groups read as four streams with prefetches 8 KiB ahead gave 16–18 and 16–20 (that prefetch
    /// had helped on Zen 5; in a prototype on Zen 4 a prefetch here cost 10–20 %). Only addresses change: the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block1<THalves>(ushort* block, int n, float* x, Vector256<float>* results) where THalves : struct, IHalfWidening
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int k = 0; k < n; k++, block += S)
        {
            var v = Avx.BroadcastScalarToVector256(x + k);
            a0 = Fma.MultiplyAdd(THalves.Load8(block), v, a0);
            a1 = Fma.MultiplyAdd(THalves.Load8(block + G), v, a1);
            a2 = Fma.MultiplyAdd(THalves.Load8(block + 2 * G), v, a2);
            a3 = Fma.MultiplyAdd(THalves.Load8(block + 3 * G), v, a3);
            a4 = Fma.MultiplyAdd(THalves.Load8(block + 4 * G), v, a4);
            a5 = Fma.MultiplyAdd(THalves.Load8(block + 5 * G), v, a5);
            a6 = Fma.MultiplyAdd(THalves.Load8(block + 6 * G), v, a6);
            a7 = Fma.MultiplyAdd(THalves.Load8(block + 7 * G), v, a7);
        }
        results[0] = a0; results[1] = a1; results[2] = a2; results[3] = a3;
        results[4] = a4; results[5] = a5; results[6] = a6; results[7] = a7;
    }

    /// <summary>
    /// Two blocks (128 rows) × one token, each read as its own sequential stream: two streams keep more misses in flight
    /// than one. On one Zen 2 core from DRAM (`kernels --tokens 1 --resident-mb 1000`, the three layer shapes) BF16
    /// read 16.2–17.2 GB/s this way against 11.9–13.4 block by block. Sixteen accumulators: the same chains as
    /// Block1's, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2<THalves>(ushort* block, ushort* next, int n, float* x, Vector256<float>* results) where THalves : struct, IHalfWidening
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int k = 0; k < n; k++, block += S, next += S)
        {
            var v = Avx.BroadcastScalarToVector256(x + k);
            a0 = Fma.MultiplyAdd(THalves.Load8(block), v, a0);
            b0 = Fma.MultiplyAdd(THalves.Load8(next), v, b0);
            a1 = Fma.MultiplyAdd(THalves.Load8(block + G), v, a1);
            b1 = Fma.MultiplyAdd(THalves.Load8(next + G), v, b1);
            a2 = Fma.MultiplyAdd(THalves.Load8(block + 2 * G), v, a2);
            b2 = Fma.MultiplyAdd(THalves.Load8(next + 2 * G), v, b2);
            a3 = Fma.MultiplyAdd(THalves.Load8(block + 3 * G), v, a3);
            b3 = Fma.MultiplyAdd(THalves.Load8(next + 3 * G), v, b3);
            a4 = Fma.MultiplyAdd(THalves.Load8(block + 4 * G), v, a4);
            b4 = Fma.MultiplyAdd(THalves.Load8(next + 4 * G), v, b4);
            a5 = Fma.MultiplyAdd(THalves.Load8(block + 5 * G), v, a5);
            b5 = Fma.MultiplyAdd(THalves.Load8(next + 5 * G), v, b5);
            a6 = Fma.MultiplyAdd(THalves.Load8(block + 6 * G), v, a6);
            b6 = Fma.MultiplyAdd(THalves.Load8(next + 6 * G), v, b6);
            a7 = Fma.MultiplyAdd(THalves.Load8(block + 7 * G), v, a7);
            b7 = Fma.MultiplyAdd(THalves.Load8(next + 7 * G), v, b7);
        }
        results[0] = a0; results[1] = a1; results[2] = a2; results[3] = a3;
        results[4] = a4; results[5] = a5; results[6] = a6; results[7] = a7;
        results[8] = b0; results[9] = b1; results[10] = b2; results[11] = b3;
        results[12] = b4; results[13] = b5; results[14] = b6; results[15] = b7;
    }

    /// <summary>The same result as the vector kernels for every (row, token), in scalar code (no AVX2/FMA).</summary>
    internal static void ComputeRowsPortable<TFormat>(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) where TFormat : struct, IRowFormat
    {
        int n = w.InFeatures;
        for (int o = rowStart; o < rowEnd; o++)
        {
            ushort* group = w.Group(o / G) + o % G;
            for (int t = 0; t < numTokens; t++)
            {
                float* xt = x + (long)t * xStride;
                float acc = 0;
                for (int k = 0; k < n; k++)
                    acc = MathF.FusedMultiplyAdd(TFormat.Load1((byte*)group, k * S), xt[k], acc);
                y[(long)t * yStride + o] = acc;
            }
        }
    }

    /// <summary>The groups a row range touches, and how to store a group's lanes that fall inside the range.</summary>
    private readonly struct GroupRange(int rowStart, int rowEnd)
    {
        public int First => rowStart / G;
        public int End => (rowEnd + G - 1) / G;

        /// <summary>The lanes of group g that fall inside the range (zero elsewhere): reads no row outside it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Load(float* y, int g)
        {
            int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, G);
            if (first == 0 && last == G) return Avx.LoadVector256(y + g * G);
            var v = Vector256<float>.Zero;
            for (int r = first; r < last; r++) v = v.WithElement(r, y[g * G + r]);
            return v;
        }

        /// <summary>Groups [g, g + groups) from pairs (pairs[p]: lanes 0–7 group g + 2p, lanes 8–15 the next), those inside the range only.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void StoreWide(float* y, int g, int groups, Vector512<float>* pairs)
        {
            for (int h = 0; h < groups && g + h < End; h++)
                Store(y, g + h, h % 2 == 0 ? pairs[h / 2].GetLower() : pairs[h / 2].GetUpper());
        }

        /// <summary>The lanes of group g that fall inside the range (none for a group outside it).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(float* y, int g, Vector256<float> v)
        {
            int first = Math.Max(rowStart - g * G, 0), last = Math.Min(rowEnd - g * G, G);
            if (first == 0 && last == G)
                Avx.Store(y + g * G, v);
            else
                for (int r = first; r < last; r++) y[g * G + r] = v.GetElement(r);
        }
    }
}
