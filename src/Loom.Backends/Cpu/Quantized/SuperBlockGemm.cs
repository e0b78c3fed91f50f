using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// y = x W^T for K-quant weights (Q4_K, Q5_K, Q6_K) read in place, as llama.cpp's ggml_vec_dot_q*_K_q8_K computes it:
/// activations quantized to Q8_K (<see cref="Q8KActivations"/>: one scale per 256 values, Σq per 16), and per
/// super-block an integer Σ scale·q·x (maddubs, then madd with the per-pair scales), an integer Σ offset·Σx from the
/// activation sums, and one or two FMAs with d·d_x and −dmin·d_x into an fp32 accumulator.
/// <para>
/// Each weight row is unpacked once per tile of tokens (<see cref="ISuperBlock.Prepare"/>) into a per-thread buffer and
/// then multiplied with every token of the tile, four tokens at a time sharing each weight load. Every (row, token)
/// result is the same sequence of operations in every shape (the integer sums are exact; per super-block the same
/// FMAs; then a fixed horizontal sum), so a sequence's outputs do not depend on the batch it runs in.
/// </para>
/// </summary>
internal static unsafe class SuperBlockGemm
{
    /// <summary>Activation bytes per token tile (a quarter of a typical 1 MB L2), as in <see cref="QuantizedGemm"/>.</summary>
    private const long InputTileBytes = 256 * 1024;

    /// <param name="w">Weight rows of n / 256 blocks; row o starts at w + o * rowBytes.</param>
    /// <param name="n">Input features (a multiple of 256).</param>
    /// <param name="y">[numTokens, yStride] outputs; columns [rowStart, rowEnd) are written.</param>
    public static void ComputeRows<TBlock>(byte* w, long rowBytes, int n, Q8KActivations x, int numTokens,
        float* y, int yStride, int rowStart, int rowEnd) where TBlock : struct, ISuperBlock
    {
        var row = PreparedRow.ForThisThread(n);
        var a = new Activations(x.Quants, x.Scales, x.Sums, n);
        int tileTokens = (int)Math.Clamp(InputTileBytes / n, 4, int.MaxValue) & ~3;
        for (int tile = 0; tile < numTokens; tile += tileTokens)
        {
            int tileEnd = Math.Min(numTokens, tile + tileTokens);
            for (int o = rowStart; o < rowEnd; o++)
            {
                row.Prepare<TBlock>(w + o * rowBytes);
                int t = tile;
                if (QuantizedGemm.UseAvx2)
                {
                    for (; t + 4 <= tileEnd; t += 4)
                        Tokens4<TBlock>(row, a, t, y + (long)t * yStride + o, yStride);
                    for (; t < tileEnd; t++)
                        y[(long)t * yStride + o] = Token1<TBlock>(row, a, t);
                }
                else
                {
                    for (; t < tileEnd; t++)
                        y[(long)t * yStride + o] = DotScalar<TBlock>(row, a, t);
                }
            }
        }
    }

    /// <summary>Pointers into the Q8_K activations: token t's quants, block scales and 16-value sums.</summary>
    private readonly struct Activations(sbyte* quants, float* scales, short* sums, int n)
    {
        public int Blocks { get; } = n / 256;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Quants(int t) => quants + (long)t * Blocks * 256;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Scales(int t) => scales + (long)t * Blocks;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public short* Sums(int t) => sums + (long)t * Blocks * 16;
    }

    /// <summary>Σ over one chunk of 32 values of scale·q·x, as eight int32 lanes (maddubs cannot saturate: q ≤ 63, |x| ≤ 127).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(Vector256<byte> q, Vector256<short> scales, sbyte* x) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Avx.LoadVector256(x)), scales);

    /// <summary>The per-super-block float step every shape shares: acc + d·d_x·Σscale·q·x − dmin·d_x·Σoffset·Σx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate<TBlock>(Vector256<float> acc, Vector256<int> dot, Vector256<short> offsets,
        short* xSums, float d, float dmin, float dx) where TBlock : struct, ISuperBlock
    {
        var offset = Avx2.MultiplyAddAdjacent(offsets, Avx.LoadVector256(xSums));
        if (TBlock.OffsetSharesScale)
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot - offset), Vector256.Create(d * dx), acc);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d * dx), acc);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(offset), Vector256.Create(-(dmin * dx)), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Token1<TBlock>(PreparedRow row, Activations a, int t) where TBlock : struct, ISuperBlock
    {
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        short* xs = a.Sums(t);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < a.Blocks; b++)
        {
            byte* q = row.Q + b * 256;
            short* scales = row.Scales + b * 128;
            var dot = Vector256<int>.Zero;
            for (int c = 0; c < 8; c++)
                dot += Chunk(Avx.LoadVector256(q + 32 * c), Avx.LoadVector256(scales + 16 * c), xq + b * 256 + 32 * c);
            acc = Accumulate<TBlock>(acc, dot, Avx.LoadVector256(row.Offsets + b * 16), xs + b * 16, row.D[b], row.DMin[b], xd[b]);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>One row, four tokens: each unpacked weight chunk and its scales are loaded once for the four tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens4<TBlock>(PreparedRow row, Activations a, int t, float* y, int yStride) where TBlock : struct, ISuperBlock
    {
        sbyte* x0 = a.Quants(t), x1 = a.Quants(t + 1), x2 = a.Quants(t + 2), x3 = a.Quants(t + 3);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            byte* q = row.Q + b * 256;
            short* scales = row.Scales + b * 128;
            Vector256<int> dot0 = default, dot1 = default, dot2 = default, dot3 = default;
            for (int c = 0; c < 8; c++)
            {
                var qc = Avx.LoadVector256(q + 32 * c);
                var sc = Avx.LoadVector256(scales + 16 * c);
                int k = b * 256 + 32 * c;
                dot0 += Chunk(qc, sc, x0 + k);
                dot1 += Chunk(qc, sc, x1 + k);
                dot2 += Chunk(qc, sc, x2 + k);
                dot3 += Chunk(qc, sc, x3 + k);
            }
            var offsets = Avx.LoadVector256(row.Offsets + b * 16);
            float d = row.D[b], dmin = row.DMin[b];
            acc0 = Accumulate<TBlock>(acc0, dot0, offsets, a.Sums(t) + b * 16, d, dmin, a.Scales(t)[b]);
            acc1 = Accumulate<TBlock>(acc1, dot1, offsets, a.Sums(t + 1) + b * 16, d, dmin, a.Scales(t + 1)[b]);
            acc2 = Accumulate<TBlock>(acc2, dot2, offsets, a.Sums(t + 2) + b * 16, d, dmin, a.Scales(t + 2)[b]);
            acc3 = Accumulate<TBlock>(acc3, dot3, offsets, a.Sums(t + 3) + b * 16, d, dmin, a.Scales(t + 3)[b]);
        }
        y[0] = Vector256.Sum(acc0);
        y[yStride] = Vector256.Sum(acc1);
        y[2L * yStride] = Vector256.Sum(acc2);
        y[3L * yStride] = Vector256.Sum(acc3);
    }

    /// <summary>Without AVX2: the same integer sums from the same unpacked row, scaled and added in scalar code.</summary>
    private static float DotScalar<TBlock>(PreparedRow row, Activations a, int t) where TBlock : struct, ISuperBlock
    {
        sbyte* xq = a.Quants(t);
        float* xd = a.Scales(t);
        short* xs = a.Sums(t);
        float sum = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            int dot = 0, offset = 0;
            for (int v = 0; v < 256; v++)
                dot += row.Scales[b * 128 + v / 32 * 16 + v % 32 / 2] * row.Q[b * 256 + v] * xq[b * 256 + v];
            for (int g = 0; g < 16; g++) offset += row.Offsets[b * 16 + g] * xs[b * 16 + g];
            sum += TBlock.OffsetSharesScale
                ? (dot - offset) * (row.D[b] * xd[b])
                : dot * (row.D[b] * xd[b]) - offset * (row.DMin[b] * xd[b]);
        }
        return sum;
    }
}

/// <summary>One weight row of super-blocks unpacked by <see cref="ISuperBlock.Prepare"/>: a per-thread scratch that grows to the longest row.</summary>
internal sealed unsafe class PreparedRow
{
    [ThreadStatic] private static PreparedRow? t_instance;

    private byte[] _q = [];         // [n] unsigned weights
    private short[] _scales = [];   // [n / 2]: per super-block 8 chunks x 16 lanes
    private short[] _offsets = [];  // [n / 16]
    private float[] _d = [];        // [n / 256]
    private float[] _dmin = [];     // [n / 256]
    private int _blocks;

    public static PreparedRow ForThisThread(int n)
    {
        var row = t_instance ??= new PreparedRow();
        if (row._q.Length < n)
        {
            row._q = GC.AllocateUninitializedArray<byte>(n, pinned: true);
            row._scales = GC.AllocateUninitializedArray<short>(n / 2, pinned: true);
            row._offsets = GC.AllocateUninitializedArray<short>(n / 16, pinned: true);
            row._d = GC.AllocateUninitializedArray<float>(n / 256, pinned: true);
            row._dmin = GC.AllocateUninitializedArray<float>(n / 256, pinned: true);
        }
        row._blocks = n / 256;
        return row;
    }

    public byte* Q => (byte*)Unsafe.AsPointer(ref _q[0]);
    public short* Scales => (short*)Unsafe.AsPointer(ref _scales[0]);
    public short* Offsets => (short*)Unsafe.AsPointer(ref _offsets[0]);
    public float* D => (float*)Unsafe.AsPointer(ref _d[0]);
    public float* DMin => (float*)Unsafe.AsPointer(ref _dmin[0]);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Prepare<TBlock>(byte* row) where TBlock : struct, ISuperBlock
    {
        byte* q = Q;
        short* scales = Scales, offsets = Offsets;
        float* d = D, dmin = DMin;
        for (int b = 0; b < _blocks; b++)
            TBlock.Prepare(row + (long)b * TBlock.BlockBytes, q + b * 256, scales + b * 128, offsets + b * 16, out d[b], out dmin[b]);
    }
}
