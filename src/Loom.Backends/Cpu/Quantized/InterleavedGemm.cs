using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Native;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// y = x W^T for 32-value block weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) repacked eight rows side by side (<see cref="InterleavedWeights"/>), against Q8
/// activations. Each int32 lane of a block's dot product is one row: four activation bytes are broadcast to all eight
/// lanes and multiplied with four bytes of each row (maddubs), so one activation load feeds eight rows, the block's
/// integer sum needs no horizontal reduction, and the scales are applied as one vector (d_w of eight rows · d_x)
/// with one convert and one FMA per eight rows instead of per row (the nibble types: <see cref="Nibblesx8{TFormat}"/>).
/// <para>
/// Shapes: eight tokens at a time (each weight block loaded and unpacked once for eight tokens; the eight float
/// accumulators live in an L1 buffer, as 16 ymm registers cannot hold them beside the block sums and the weights), four
/// at a time, and single tokens for the rest and for decode. Every (row, token) output is the same computation in every shape: per block the exact
/// integer sum, converted to float (exact: |Σ| &lt; 2^24), acc = fma(Σ, d_w · d_x, acc) in block order, so batching
/// stays bit-invariant; the portable path does the same in scalar code and gives the same bits.
/// </para>
/// <para>
/// With AVX-512 (<see cref="CpuIsa.Avx512"/>) the nibble types run two groups per zmm (<see cref="InterleavedTiles.RunPairs"/>,
/// <see cref="IInterleavedBlock.Tokens8Pair"/>): the same per-lane operations, so the same bits as the 256-bit kernels;
/// Q8_0 keeps its 256-bit AVX-VNNI kernels, which measured faster (<see cref="Q8_0x8.HasPairKernel"/>). Where the native
/// AVX512-VNNI kernels load (<see cref="NativeCpuKernels"/>) every type runs the pairs, with the eight- and four-token
/// tiles in native code (vpdpbusd): the same bits again. Single tokens stay managed.
/// </para>
/// </summary>
internal static unsafe class InterleavedGemm
{
    private const int G = InterleavedWeights.GroupRows;

    /// <summary>How far ahead of the weights being read the one-token kernels prefetch, in bytes (measured from DRAM: 2–8 KB alike within noise, none ~25 % slower).</summary>
    internal const int PrefetchDistance = 4096;

    /// <summary>Output columns [rowStart, rowEnd) of y ([numTokens, yStride]) for every token, with the 512-bit kernels where <see cref="CpuIsa.Avx512"/>.</summary>
    public static void ComputeRows<TBlock>(InterleavedWeights w, Q8Activations x, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd) where TBlock : struct, IInterleavedBlock
    {
        var native = NativeCpuKernels.PairKernels<TBlock>();
        ComputeRows<TBlock>(w, x, numTokens, y, yStride, rowStart, rowEnd, CpuIsa.Avx512 && (TBlock.HasPairKernel || native.Present), native);
    }

    /// <summary>
    /// <see cref="ComputeRows{TBlock}(InterleavedWeights, Q8Activations, int, float*, int, int, int)"/> with the
    /// choice of kernels made by the caller: <paramref name="avx512"/> false keeps the 256-bit kernels on an AVX-512
    /// machine, true runs the 512-bit ones where the CPU has AVX-512, even for a block type whose 256-bit kernel won
    /// (<see cref="IInterleavedBlock.HasPairKernel"/> false), so tests compare the two (the outputs are the same bits);
    /// <paramref name="native"/>, where present, replaces the managed eight- and four-token pair tiles
    /// (<see cref="NativeCpuKernels.PairKernels{TBlock}"/>, the same bits again).
    /// </summary>
    internal static void ComputeRows<TBlock>(InterleavedWeights w, Q8Activations x, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd, bool avx512, NativePairKernels native = default) where TBlock : struct, IInterleavedBlock
    {
        int n = w.Blocks * 32;
        var kernels = new Kernels<TBlock>(w, new Activations(x.Quants, x.Scales, x.Sums, n), native);
        if (avx512 && CpuIsa.Avx512) InterleavedTiles.RunPairs(kernels, n, numTokens, y, yStride, rowStart, rowEnd);
        else InterleavedTiles.Run(kernels, n, numTokens, y, yStride, rowStart, rowEnd);
    }

    private readonly struct Kernels<TBlock>(InterleavedWeights w, Activations a, NativePairKernels native) : IGroupPairKernels
        where TBlock : struct, IInterleavedBlock
    {
        public void Tokens8Pair(int g, int t, float* y, int yStride, int first, int last)
        {
            if (native.Present)
                native.Tokens8(w.Quants(g), w.Quants(g + 1), w.Scales(g), w.Scales(g + 1), w.Blocks, a.Quants(t), a.Scales(t), a.Sums(t), y, yStride, first, last);
            else
                TBlock.Tokens8Pair(w.Quants(g), w.Quants(g + 1), w.Scales(g), w.Scales(g + 1), w.Blocks, a, t, y, yStride, first, last);
        }

        /// <summary>Four tokens of a pair: the native tile where there is one, else each group's 256-bit kernel (no managed 512-bit four-token kernel is built).</summary>
        public void Tokens4Pair(int g, int t, float* y, int yStride, int first, int last)
        {
            if (native.Present)
            {
                native.Tokens4(w.Quants(g), w.Quants(g + 1), w.Scales(g), w.Scales(g + 1), w.Blocks, a.Quants(t), a.Scales(t), a.Sums(t), y, yStride, first, last);
                return;
            }
            Tokens4(g, t, y, yStride, first, Math.Min(last, G));
            Tokens4(g + 1, t, y + G, yStride, 0, last - G);
        }

        /// <summary>
        /// Single tokens (decode) stay on each group's 256-bit kernel on purpose: a 512-bit one-token Q4_0 kernel over
        /// the pair was 1.25–1.42x faster with the weights in cache but 0.70–0.86x streaming them from DRAM as decode
        /// does (kernels benchmark, --resident-mb 300, one thread, load average 15), its two groups being two streams
        /// far apart.
        /// </summary>
        public void Token1Pair(int g, int t, float* y, int first, int last)
        {
            Token1(g, t, y, first, Math.Min(last, G));
            Token1(g + 1, t, y + G, 0, last - G);
        }

        public void Tokens8(int g, int t, float* y, int yStride, int first, int last) =>
            TBlock.Tokens8(w.Quants(g), w.Scales(g), w.Blocks, a, t, y, yStride, first, last);

        public void Tokens4(int g, int t, float* y, int yStride, int first, int last) =>
            TBlock.Tokens4(w.Quants(g), w.Scales(g), w.Blocks, a, t, y, yStride, first, last);

        public void Token1(int g, int t, float* y, int first, int last) => TBlock.Token1(w.Quants(g), w.Scales(g), w.Blocks, a, t, y, first, last);

        public float Scalar(int g, int r, int t) => DotScalar<TBlock>(w.Quants(g), w.Scales(g), w.Blocks, r, a, t);
    }

    /// <summary>Stores lanes [first, last) of one token's eight row results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRows(float* y, Vector256<float> v, int first, int last)
    {
        if (first == 0 && last == G)
        {
            Avx.Store(y, v);
            return;
        }
        for (int r = first; r < last; r++) y[r] = v.GetElement(r);
    }

    /// <summary>Eight fp16 scales to fp32, exactly for every finite value: the bits moved into fp32 place, times 2^112.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> HalvesToSingles(ushort* h)
    {
        var v = Avx2.ConvertToVector256Int32(h);
        var sign = Avx2.ShiftLeftLogical(v, 16) & Vector256.Create(int.MinValue);
        // 2^112 as its bits: a constant even in the AggressiveOptimization kernels, which a static readonly is not.
        var twoTo112 = Vector256.Create((127 + 112) << 23).AsSingle();
        var magnitude = Avx2.ShiftLeftLogical(v & Vector256.Create(0x7FFF), 13).AsSingle() * twoTo112;
        return magnitude | sign.AsSingle();
    }

    /// <summary>Stores lanes [first, last) of one token's sixteen row results (two groups, <see cref="InterleavedTiles.RunPairs"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRows16(float* y, Vector512<float> v, int first, int last)
    {
        if (first == 0 && last == 2 * G)
        {
            Avx512F.Store(y, v);
            return;
        }
        for (int r = first; r < last; r++) y[r] = v.GetElement(r);
    }

    /// <summary>
    /// <see cref="HalvesToSingles"/> of two groups' eight scales (lanes 0–7 from <paramref name="h0"/>, 8–15 from
    /// <paramref name="h1"/>): the same integer operations per lane, so the same floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalvesToSingles16(ushort* h0, ushort* h1)
    {
        var v = Avx512F.ConvertToVector512Int32(Vector256.Create(Sse2.LoadVector128(h0), Sse2.LoadVector128(h1)));
        var sign = Avx512F.ShiftLeftLogical(v, 16) & Vector512.Create(int.MinValue);
        var twoTo112 = Vector512.Create((127 + 112) << 23).AsSingle();
        var magnitude = Avx512F.ShiftLeftLogical(v & Vector512.Create(0x7FFF), 13).AsSingle() * twoTo112;
        return magnitude | sign.AsSingle();
    }

    /// <summary>32 bytes of group g (lower half) and 32 of group g + 1 (upper half) as one zmm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> Join(byte* g0, byte* g1) => Vector512.Create(Avx.LoadVector256(g0), Avx.LoadVector256(g1));

    /// <summary>Four activation bytes broadcast to all sixteen lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<sbyte> Broadcast4x16(sbyte* x) => Vector512.Create(*(int*)x).AsSByte();

    /// <summary>Eight zeroed float accumulators, one per token of an eight-token tile (an L1 buffer of the caller's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Clear8(Vector256<float>* acc)
    {
        for (int j = 0; j < 8; j++) acc[j] = Vector256<float>.Zero;
    }

    /// <summary>Stores an eight-token tile's accumulators, token j at y + j * yStride, lanes [first, last).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreTile8(float* y, int yStride, Vector256<float>* acc, int first, int last)
    {
        for (int j = 0; j < 8; j++) StoreRows(y + (long)j * yStride, acc[j], first, last);
    }

    /// <summary>Asks for <paramref name="lines"/> cache lines from <see cref="PrefetchDistance"/> bytes past <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchLines(byte* p, int lines)
    {
        for (int i = 0; i < lines; i++) Sse.Prefetch0(p + PrefetchDistance + 64 * i);
    }

    /// <summary>Four activation bytes broadcast to all eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<sbyte> Broadcast4(sbyte* x) => Avx2.BroadcastScalarToVector256((int*)x).AsSByte();

    /// <summary>The same result as the vector kernels for one (row, token), in scalar code.</summary>
    private static float DotScalar<TBlock>(byte* q, ushort* scales, int blocks, int r, Activations a, int t)
        where TBlock : struct, IInterleavedBlock
    {
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        int* xs = a.Sums(t);
        int halves = TBlock.HasMin ? 2 * G : G;
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            int sum = TBlock.DotScalar(q + (long)b * TBlock.GroupBlockBytes, r, xq + b * 32, xs[b]);
            float dw = (float)BitConverter.UInt16BitsToHalf(scales[b * halves + r]);
            acc = MathF.FusedMultiplyAdd(sum, dw * xd[b], acc);
            if (TBlock.HasMin)
                acc = MathF.FusedMultiplyAdd((float)BitConverter.UInt16BitsToHalf(scales[b * halves + G + r]), xd[b] * xs[b], acc);
        }
        return acc;
    }
}

/// <summary>Pointers into quantized activations: token t's blocks.</summary>
internal readonly unsafe struct Activations(sbyte* quants, float* scales, int* sums, int n)
{
    private readonly int _blocks = n / 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public sbyte* Quants(int t) => quants + (long)t * _blocks * 32;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Scales(int t) => scales + (long)t * _blocks;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int* Sums(int t) => sums + (long)t * _blocks;
}

/// <summary>A block type in the interleaved layout: its kernels for one group of eight rows.</summary>
internal unsafe interface IInterleavedBlock
{
    /// <summary>Bytes of one group block (eight rows' quants of one 32-value block).</summary>
    static abstract int GroupBlockBytes { get; }

    /// <summary>Whether each row's block has an fp16 min after the eight scales (w = d·q + m).</summary>
    static abstract bool HasMin { get; }

    /// <summary>Tokens t..t+7 into y (token i at y + i * yStride), lanes [first, last).</summary>
    static abstract void Tokens8(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last);

    /// <summary>
    /// Whether <see cref="Tokens8Pair"/> is a 512-bit kernel worth running; where not (it measured slower than the
    /// 256-bit one), the tile loop keeps <see cref="Tokens8"/> for every group.
    /// </summary>
    static abstract bool HasPairKernel { get; }

    /// <summary>
    /// Tokens t..t+7 of two groups (quants <paramref name="q0"/> / <paramref name="q1"/>, scales <paramref name="s0"/> /
    /// <paramref name="s1"/>) into y (token i at y + i * yStride, group 1 at lanes 8–15), lanes [first, last) of 16;
    /// AVX-512, the same bits as <see cref="Tokens8"/> on each group.
    /// </summary>
    static abstract void Tokens8Pair(byte* q0, byte* q1, ushort* s0, ushort* s1, int blocks, Activations a, int t, float* y, int yStride, int first, int last);

    /// <summary>Tokens t..t+3 into y (token i at y + i * yStride), lanes [first, last).</summary>
    static abstract void Tokens4(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int yStride, int first, int last);

    /// <summary>Token t into y, lanes [first, last).</summary>
    static abstract void Token1(byte* q, ushort* scales, int blocks, Activations a, int t, float* y, int first, int last);

    /// <summary>Row r's exact integer block sum (including any offset correction, not the min) against one activation block.</summary>
    static abstract int DotScalar(byte* groupBlock, int r, sbyte* x, int xSum);
}
