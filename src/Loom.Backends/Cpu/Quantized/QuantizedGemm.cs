using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// y = x W^T for 32-value block weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) read in place, as llama.cpp computes
/// it: the activations are quantized to Q8 per 32-value block (<see cref="Q8Activations"/>), each weight block times activation block is an integer dot product
/// (vpdpbusd with AVX-VNNI, else maddubs + madd), and each block's int32 sums are converted once and scaled by
/// d_w · d_x into an fp32 accumulator (blocks with a min then add m_w · d_x · Σq_x).
/// <para>
/// Shapes: one token (decode) takes four rows at a time, sharing each activation load; four or more tokens take two
/// rows × four tokens, so each weight block is loaded and unpacked once for four tokens. Every (row, token) result is
/// the same sequence of operations in every shape (per block: integer dot, convert, FMA with d_w·d_x into one 8-lane
/// accumulator; then a fixed horizontal sum), so a sequence's outputs do not depend on the batch it runs in.
/// </para>
/// </summary>
internal static unsafe class QuantizedGemm
{
    public static bool UseAvx2 { get; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Bytes ahead of each row pointer to prefetch (as in DenseGemm: one core keeps too few misses in flight otherwise).</summary>
    private const int PrefetchDistance = 8192;

    /// <summary>Activation bytes per token tile in the batched path (a quarter of a typical 1 MB L2).</summary>
    private const long InputTileBytes = 256 * 1024;

    /// <param name="w">Weight rows of n / 32 blocks; row o starts at w + o * rowBytes.</param>
    /// <param name="n">Input features (a multiple of 32).</param>
    /// <param name="x">The quantized activations of numTokens rows.</param>
    /// <param name="y">[numTokens, yStride] outputs; columns [rowStart, rowEnd) are written.</param>
    public static void ComputeRows<TBlock>(byte* w, long rowBytes, int n, Q8Activations x, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd) where TBlock : struct, IQuantBlock
    {
        var a = new Activations(x.Quants, x.Scales, x.Sums, n);
        if (!UseAvx2)
        {
            for (int t = 0; t < numTokens; t++)
                for (int o = rowStart; o < rowEnd; o++)
                    y[(long)t * yStride + o] = DotScalar<TBlock>(w + o * rowBytes, a, t);
            return;
        }
        int done = 0;
        if (numTokens >= 4)
        {
            int tileTokens = (int)Math.Clamp(InputTileBytes / n, 4, int.MaxValue) & ~3;
            int fullBlocks = numTokens / 4 * 4;
            for (int tile = 0; tile < fullBlocks; tile += tileTokens)
            {
                int tileEnd = Math.Min(fullBlocks, tile + tileTokens);
                int o = rowStart;
                for (; o + 2 <= rowEnd; o += 2)
                    for (int t = tile; t < tileEnd; t += 4)
                        Rows2Tokens4<TBlock>(w + o * rowBytes, rowBytes, a, t, y + (long)t * yStride + o, yStride);
                for (; o < rowEnd; o++)
                    for (int t = tile; t < tileEnd; t++)
                        y[(long)t * yStride + o] = Row1Token1<TBlock>(w + o * rowBytes, a, t);
            }
            done = fullBlocks;
        }
        for (int t = done; t < numTokens; t++)
        {
            float* yt = y + (long)t * yStride;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
                Rows4Token1<TBlock>(w + o * rowBytes, rowBytes, a, t, yt + o);
            for (; o < rowEnd; o++)
                yt[o] = Row1Token1<TBlock>(w + o * rowBytes, a, t);
        }
    }

    /// <summary>Pointers into the quantized activations: token t's block b.</summary>
    private readonly struct Activations(sbyte* quants, float* scales, int* sums, int n)
    {
        private readonly int _blocks = n / 32;
        public int Blocks => _blocks;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Quants(int t) => quants + (long)t * _blocks * 32;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Scales(int t) => scales + (long)t * _blocks;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int* Sums(int t) => sums + (long)t * _blocks;
    }

    /// <summary>The one per-block step every kernel shares: acc + float(Σ w·x) · (d_w · d_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<int> dot, Vector256<float> dw, Vector256<float> dx) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), dw * dx, acc);

    /// <summary>For blocks with a min (Q4_1, Q5_1): acc + m_w · (d_x · Σq_x) in lane 0, after the block's integer part.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> AddMin<TBlock>(Vector256<float> acc, byte* block, float dx, int xSum) where TBlock : struct, IQuantBlock =>
        TBlock.HasMin ? acc + Vector256.CreateScalar(TBlock.Min(block) * (dx * xSum)) : acc;

    /// <summary>A mask on the block index: prefetch about once per 64-byte line (every 34-byte Q8_0 block, every other 18-byte Q4_0 block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PrefetchEvery<TBlock>() where TBlock : struct, IQuantBlock => TBlock.BlockBytes * 2 <= 64 ? 1 : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch<TBlock>(byte* block) where TBlock : struct, IQuantBlock => Sse.Prefetch0(block + PrefetchDistance);

    /// <summary>Four rows, one token: each activation block is loaded once for the four rows; four independent chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows4Token1<TBlock>(byte* w, long rowBytes, Activations a, int t, float* y) where TBlock : struct, IQuantBlock
    {
        byte* r0 = w, r1 = w + rowBytes, r2 = w + 2 * rowBytes, r3 = w + 3 * rowBytes;
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        int* xs = a.Sums(t);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int step = TBlock.BlockBytes;
        for (int b = 0; b < a.Blocks; b++)
        {
            long off = (long)b * step;
            if ((b & PrefetchEvery<TBlock>()) == 0)
            {
                Prefetch<TBlock>(r0 + off);
                Prefetch<TBlock>(r1 + off);
                Prefetch<TBlock>(r2 + off);
                Prefetch<TBlock>(r3 + off);
            }
            var xv = Avx.LoadVector256(xq + b * 32);
            var dx = Vector256.Create(xd[b]);
            var start = TBlock.Start(xs[b]);
            var u0 = TBlock.Prepare(r0 + off, out var s0);
            a0 = Accumulate(a0, TBlock.Dot(start, u0, s0, xv), Vector256.Create(IntDot.Scale(r0 + off)), dx);
            a0 = AddMin<TBlock>(a0, r0 + off, xd[b], xs[b]);
            var u1 = TBlock.Prepare(r1 + off, out var s1);
            a1 = Accumulate(a1, TBlock.Dot(start, u1, s1, xv), Vector256.Create(IntDot.Scale(r1 + off)), dx);
            a1 = AddMin<TBlock>(a1, r1 + off, xd[b], xs[b]);
            var u2 = TBlock.Prepare(r2 + off, out var s2);
            a2 = Accumulate(a2, TBlock.Dot(start, u2, s2, xv), Vector256.Create(IntDot.Scale(r2 + off)), dx);
            a2 = AddMin<TBlock>(a2, r2 + off, xd[b], xs[b]);
            var u3 = TBlock.Prepare(r3 + off, out var s3);
            a3 = Accumulate(a3, TBlock.Dot(start, u3, s3, xv), Vector256.Create(IntDot.Scale(r3 + off)), dx);
            a3 = AddMin<TBlock>(a3, r3 + off, xd[b], xs[b]);
        }
        y[0] = Vector256.Sum(a0);
        y[1] = Vector256.Sum(a1);
        y[2] = Vector256.Sum(a2);
        y[3] = Vector256.Sum(a3);
    }

    /// <summary>Two rows, four tokens: each weight block is loaded and made unsigned once for four tokens (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows2Tokens4<TBlock>(byte* w, long rowBytes, Activations a, int t, float* y, int yStride)
        where TBlock : struct, IQuantBlock
    {
        byte* r0 = w, r1 = w + rowBytes;
        sbyte* q0 = a.Quants(t), q1 = a.Quants(t + 1), q2 = a.Quants(t + 2), q3 = a.Quants(t + 3);
        float* d0 = a.Scales(t), d1 = a.Scales(t + 1), d2 = a.Scales(t + 2), d3 = a.Scales(t + 3);
        int* s0 = a.Sums(t), s1 = a.Sums(t + 1), s2 = a.Sums(t + 2), s3 = a.Sums(t + 3);
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        int step = TBlock.BlockBytes;
        for (int b = 0; b < a.Blocks; b++)
        {
            long off = (long)b * step;
            if ((b & PrefetchEvery<TBlock>()) == 0)
            {
                Prefetch<TBlock>(r0 + off);
                Prefetch<TBlock>(r1 + off);
            }
            var u0 = TBlock.Prepare(r0 + off, out var g0);
            var u1 = TBlock.Prepare(r1 + off, out var g1);
            var dw0 = Vector256.Create(IntDot.Scale(r0 + off));
            var dw1 = Vector256.Create(IntDot.Scale(r1 + off));
            int k = b * 32;

            var xv = Avx.LoadVector256(q0 + k);
            var dx = Vector256.Create(d0[b]);
            var start = TBlock.Start(s0[b]);
            a00 = Accumulate(a00, TBlock.Dot(start, u0, g0, xv), dw0, dx);
            a00 = AddMin<TBlock>(a00, r0 + off, d0[b], s0[b]);
            a10 = Accumulate(a10, TBlock.Dot(start, u1, g1, xv), dw1, dx);
            a10 = AddMin<TBlock>(a10, r1 + off, d0[b], s0[b]);
            xv = Avx.LoadVector256(q1 + k);
            dx = Vector256.Create(d1[b]);
            start = TBlock.Start(s1[b]);
            a01 = Accumulate(a01, TBlock.Dot(start, u0, g0, xv), dw0, dx);
            a01 = AddMin<TBlock>(a01, r0 + off, d1[b], s1[b]);
            a11 = Accumulate(a11, TBlock.Dot(start, u1, g1, xv), dw1, dx);
            a11 = AddMin<TBlock>(a11, r1 + off, d1[b], s1[b]);
            xv = Avx.LoadVector256(q2 + k);
            dx = Vector256.Create(d2[b]);
            start = TBlock.Start(s2[b]);
            a02 = Accumulate(a02, TBlock.Dot(start, u0, g0, xv), dw0, dx);
            a02 = AddMin<TBlock>(a02, r0 + off, d2[b], s2[b]);
            a12 = Accumulate(a12, TBlock.Dot(start, u1, g1, xv), dw1, dx);
            a12 = AddMin<TBlock>(a12, r1 + off, d2[b], s2[b]);
            xv = Avx.LoadVector256(q3 + k);
            dx = Vector256.Create(d3[b]);
            start = TBlock.Start(s3[b]);
            a03 = Accumulate(a03, TBlock.Dot(start, u0, g0, xv), dw0, dx);
            a03 = AddMin<TBlock>(a03, r0 + off, d3[b], s3[b]);
            a13 = Accumulate(a13, TBlock.Dot(start, u1, g1, xv), dw1, dx);
            a13 = AddMin<TBlock>(a13, r1 + off, d3[b], s3[b]);
        }
        y[0] = Vector256.Sum(a00);
        y[1] = Vector256.Sum(a10);
        y[yStride] = Vector256.Sum(a01);
        y[yStride + 1] = Vector256.Sum(a11);
        y[2L * yStride] = Vector256.Sum(a02);
        y[2L * yStride + 1] = Vector256.Sum(a12);
        y[3L * yStride] = Vector256.Sum(a03);
        y[3L * yStride + 1] = Vector256.Sum(a13);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Row1Token1<TBlock>(byte* row, Activations a, int t) where TBlock : struct, IQuantBlock
    {
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        int* xs = a.Sums(t);
        var acc = Vector256<float>.Zero;
        int step = TBlock.BlockBytes;
        for (int b = 0; b < a.Blocks; b++)
        {
            byte* block = row + (long)b * step;
            var u = TBlock.Prepare(block, out var g);
            acc = Accumulate(acc, TBlock.Dot(TBlock.Start(xs[b]), u, g, Avx.LoadVector256(xq + b * 32)),
                Vector256.Create(IntDot.Scale(block)), Vector256.Create(xd[b]));
            acc = AddMin<TBlock>(acc, block, xd[b], xs[b]);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>Without AVX2: the same integer block sums, scaled and added in scalar code.</summary>
    private static float DotScalar<TBlock>(byte* row, Activations a, int t) where TBlock : struct, IQuantBlock
    {
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        int* xs = a.Sums(t);
        float sum = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            byte* block = row + (long)b * TBlock.BlockBytes;
            sum += TBlock.DotScalar(block, xq + b * 32, xs[b]) * (IntDot.Scale(block) * xd[b]);
            if (TBlock.HasMin) sum += TBlock.Min(block) * (xd[b] * xs[b]);
        }
        return sum;
    }
}
