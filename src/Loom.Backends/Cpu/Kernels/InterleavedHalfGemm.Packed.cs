using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// F16 batches of <see cref="PackMinTokens"/> or more tokens: each pair of groups is widened once per token tile into a
/// per-thread fp32 panel (<see cref="WidenedPanel"/>, BLIS's packed panel), and every six-token block of the tile
/// runs over it with plain loads, so the widening is paid once per tile instead of once per six tokens. A row longer
/// than <see cref="PanelDepth"/> is cut into equal k-chunks so that the panel and the tile's inputs fit L2; between
/// chunks the accumulators wait in y as fp32 (a store and reload is exact), so each (row, token) output is still
/// acc = fma(w[k], x[k], acc) for k = 0, 1, ..., n − 1 from zero, the bits of every other shape.
/// </summary>
internal static unsafe partial class InterleavedHalfGemm
{
    /// <summary>
    /// Fewest tokens for which F16 takes the packed path: measured (`half-packing`), packing lost at 6–18 tokens and won
    /// from 32 on. BF16 never does: its widening is one shift, and the fp32 panel (twice the bytes, past L1) measured
    /// level or slower at every batch size.
    /// </summary>
    internal const int PackMinTokens = 32;

    /// <summary>Most k per panel: 16 rows × 1024 × 4 B = 64 KB beside a token tile's 256 KB of inputs in a 512 KB L2.</summary>
    internal const int PanelDepth = 1024;

    /// <summary>Output columns [rowStart, rowEnd) of y over widened panels (needs AVX2); any number of tokens works.</summary>
    internal static void ComputeRowsPacked<THalves>(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) where THalves : struct, IHalfWidening
    {
        var range = new GroupRange(rowStart, rowEnd);
        int n = w.InFeatures;
        int chunks = (n + PanelDepth - 1) / PanelDepth;
        int depth = (n + chunks - 1) / chunks;
        int tileTokens = BalancedTileTokens(numTokens, TokensPerTile(depth));
        float* panel = WidenedPanel.ForThisThread().Reserve(depth);
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int count = Math.Min(tileTokens, numTokens - tile);
            float* xt = x + (long)tile * xStride, yt = y + (long)tile * yStride;
            for (int k0 = 0; k0 < n; k0 += depth)
                PackedChunk<THalves>(w, panel, k0, Math.Min(depth, n - k0), xt, xStride, count, yt, yStride, range);
        }
    }

    /// <summary>At most <paramref name="maxTokens"/> per tile, the tiles as even as whole six-token blocks allow.</summary>
    private static int BalancedTileTokens(int numTokens, int maxTokens)
    {
        int tiles = (numTokens + maxTokens - 1) / maxTokens;
        int perTile = (numTokens + tiles - 1) / tiles;
        return (perTile + TileTokens - 1) / TileTokens * TileTokens;
    }

    /// <summary>
    /// k in [k0, k0 + depth) of one token tile: per pair of groups one widening, then six-token blocks (a last block of
    /// one to five tokens runs as six with its last token repeated and not stored), continuing from y after the first chunk.
    /// </summary>
    private static void PackedChunk<THalves>(InterleavedHalfWeights w, float* panel, int k0, int depth, float* x, int xStride,
        int numTokens, float* y, int yStride, GroupRange range) where THalves : struct, IHalfWidening
    {
        var acc = stackalloc Vector256<float>[2 * TileTokens]; // [tokens, groups]
        var tokens = stackalloc float*[TileTokens];
        for (int g = range.First & ~1; g < range.End; g += 2)
        {
            // As in ComputeTile: a pair's group outside the range is computed and not stored.
            int g1 = g + 1;
            float* w0, w1;
            int stride;
            if (w.HasWidenedCopy)
            {
                w0 = w.WidenedGroup(g) + (long)k0 * S;
                w1 = w.WidenedGroup(g1) + (long)k0 * S;
                stride = S;
            }
            else
            {
                Widen<THalves>(w.Group(g) + (long)k0 * S, w.Group(g1) + (long)k0 * S, depth, panel);
                w0 = panel;
                w1 = panel + G;
                stride = 2 * G;
            }
            for (int t = 0; t < numTokens; t += TileTokens)
            {
                int live = Math.Min(TileTokens, numTokens - t);
                for (int j = 0; j < TileTokens; j++)
                {
                    int token = t + Math.Min(j, live - 1);
                    tokens[j] = x + (long)token * xStride + k0;
                    float* yt = y + (long)token * yStride;
                    acc[2 * j] = k0 == 0 ? default : range.Load(yt, g);
                    acc[2 * j + 1] = k0 == 0 ? default : range.Load(yt, g1);
                }
                PanelPair6(w0, w1, stride, depth, tokens, acc);
                for (int j = 0; j < live; j++)
                {
                    float* yt = y + (long)(t + j) * yStride;
                    range.Store(yt, g, acc[2 * j]);
                    range.Store(yt, g1, acc[2 * j + 1]);
                }
            }
        }
    }

    /// <summary>Groups g0 and g1 at k in [0, depth) widened into panel ([depth, 16] fp32: g0's eight rows, then g1's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called a few thousand times a step: tier 0 cost a third of F16 prefill
    private static void Widen<THalves>(ushort* g0, ushort* g1, int depth, float* panel) where THalves : struct, IHalfWidening
    {
        for (int k = 0; k < depth; k++)
        {
            Avx.Store(panel + k * 2 * G, THalves.Load8(g0 + k * S));
            Avx.Store(panel + k * 2 * G + G, THalves.Load8(g1 + k * S));
        }
    }

    /// <summary>
    /// Sixteen fp32 rows × six tokens x[0..5], continuing acc[2j + h] (token j, group h) in place: the eight rows of
    /// group h at k are w_h + k · stride (a panel's two halves, or two groups of the widened copy).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelPair6(float* w0p, float* w1p, int stride, int depth, float** x, Vector256<float>* acc)
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5];
        Vector256<float> a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], a20 = acc[4], a21 = acc[5];
        Vector256<float> a30 = acc[6], a31 = acc[7], a40 = acc[8], a41 = acc[9], a50 = acc[10], a51 = acc[11];
        for (int k = 0; k < depth; k++)
        {
            var w0 = Avx.LoadAlignedVector256(w0p);
            var w1 = Avx.LoadAlignedVector256(w1p);
            w0p += stride;
            w1p += stride;
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
        acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11; acc[4] = a20; acc[5] = a21;
        acc[6] = a30; acc[7] = a31; acc[8] = a40; acc[9] = a41; acc[10] = a50; acc[11] = a51;
    }
}

/// <summary>Per-thread fp32 panel of sixteen rows for <see cref="InterleavedHalfGemm"/>'s packed path, 64-byte aligned.</summary>
internal sealed unsafe class WidenedPanel
{
    private const int AlignFloats = 16; // 64 bytes: one cache line per k

    [ThreadStatic] private static WidenedPanel? t_instance;
    private float[] _values = []; // [depth, 16] fp32 from an aligned offset, pinned; grows to the deepest panel seen

    public static WidenedPanel ForThisThread() => t_instance ??= new WidenedPanel();

    /// <summary>Room for <paramref name="depth"/> k of sixteen rows; valid until this thread's next call.</summary>
    public float* Reserve(int depth)
    {
        int size = depth * 2 * InterleavedHalfWeights.GroupRows + AlignFloats;
        if (_values.Length < size) _values = GC.AllocateUninitializedArray<float>(size, pinned: true);
        float* start = (float*)Unsafe.AsPointer(ref _values[0]);
        return (float*)(((nint)start + 63) & ~(nint)63);
    }
}
