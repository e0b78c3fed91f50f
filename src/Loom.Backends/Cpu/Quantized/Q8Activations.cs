using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Activation rows quantized to 8 bits per 32-value block, as llama.cpp quantizes the activations it multiplies with
/// Q8_0/Q4_0 weights (quantize_row_q8_0): d = max|x| / 127, q = round(x / d) in [-127, 127] (to nearest even). Unlike
/// llama.cpp, d stays fp32 rather than being rounded to fp16. Also keeps each block's Σq, which the Q4_0 kernel needs
/// to undo its weights' offset of 8. A per-thread scratch (or a launch's shared input, <see cref="PreparedInput"/>) that grows to the largest batch seen and is then reused.
/// </summary>
internal sealed unsafe class Q8Activations
{
    [ThreadStatic] private static Q8Activations? t_instance;

    private sbyte[] _quants = [];   // [numTokens, n]
    private float[] _scales = [];   // [numTokens, n / 32]
    private int[] _sums = [];       // [numTokens, n / 32]

    /// <summary>This thread's scratch.</summary>
    public static Q8Activations ForThisThread() => t_instance ??= new Q8Activations();

    /// <summary>
    /// Quantizes <paramref name="numTokens"/> rows of <paramref name="n"/> values (a multiple of 32), row t starting at
    /// x + t * xStride, into <see cref="Quants"/>, <see cref="Scales"/> and <see cref="Sums"/>.
    /// </summary>
    public void Quantize(float* x, int xStride, int numTokens, int n)
    {
        Reserve(numTokens, n);
        for (int t = 0; t < numTokens; t++) QuantizeToken(x + (long)t * xStride, t, n);
    }

    /// <summary>Grows the buffers to <paramref name="numTokens"/> rows of <paramref name="n"/> values (a multiple of 32).</summary>
    public void Reserve(int numTokens, int n)
    {
        if (_quants.Length >= numTokens * n) return;
        _quants = GC.AllocateUninitializedArray<sbyte>(numTokens * n, pinned: true);
        _scales = GC.AllocateUninitializedArray<float>(numTokens * (n / 32), pinned: true);
        _sums = GC.AllocateUninitializedArray<int>(numTokens * (n / 32), pinned: true);
    }

    /// <summary>Token t's row (n values at x) into row t of the buffers, which <see cref="Reserve"/> has grown; rows are independent, so threads may fill different ones.</summary>
    public void QuantizeToken(float* x, int t, int n) =>
        QuantizeRow(x, n, Quants + (long)t * n, Scales + (long)t * (n / 32), Sums + (long)t * (n / 32));

    /// <summary>[numTokens, n] int8 quants (pinned arrays, so the pointers stay valid).</summary>
    public sbyte* Quants => (sbyte*)Unsafe.AsPointer(ref _quants[0]);
    /// <summary>[numTokens, n / 32] block scales d.</summary>
    public float* Scales => (float*)Unsafe.AsPointer(ref _scales[0]);
    /// <summary>[numTokens, n / 32] Σq of each block.</summary>
    public int* Sums => (int*)Unsafe.AsPointer(ref _sums[0]);

    /// <summary>One row: n / 32 blocks into q (n bytes), d and Σq (n / 32 each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(float* x, int n, sbyte* q, float* d, int* sums)
    {
        for (int b = 0; b < n / 32; b++)
        {
            float* xb = x + b * 32;
            sbyte* qb = q + b * 32;
            if (Avx2.IsSupported)
            {
                var v0 = Avx.LoadVector256(xb);
                var v1 = Avx.LoadVector256(xb + 8);
                var v2 = Avx.LoadVector256(xb + 16);
                var v3 = Avx.LoadVector256(xb + 24);
                var max = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
                float amax = MaxAcross(max);
                float scale = amax / 127f, inverse = amax != 0 ? 127f / amax : 0f;
                var id = Vector256.Create(inverse);
                // cvtps2dq rounds to nearest even (the default MXCSR mode), as llama.cpp's _mm256_round_ps does.
                var i0 = Avx.ConvertToVector256Int32(v0 * id);
                var i1 = Avx.ConvertToVector256Int32(v1 * id);
                var i2 = Avx.ConvertToVector256Int32(v2 * id);
                var i3 = Avx.ConvertToVector256Int32(v3 * id);
                var sum = (i0 + i1) + (i2 + i3);
                var packed = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                // The packs interleave 128-bit lanes: put the eight 4-value groups back in order.
                packed = Avx2.PermuteVar8x32(packed.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
                Avx.Store(qb, packed);
                d[b] = scale;
                sums[b] = Vector256.Sum(sum);
            }
            else
            {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(xb[j]));
                float scale = amax / 127f, inverse = amax != 0 ? 127f / amax : 0f;
                int sum = 0;
                for (int j = 0; j < 32; j++)
                {
                    int v = (int)MathF.Round(xb[j] * inverse, MidpointRounding.ToEven);
                    qb[j] = (sbyte)v;
                    sum += v;
                }
                d[b] = scale;
                sums[b] = sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxAcross(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Sse.Shuffle(m, m, 0b_01_00_11_10));
        m = Vector128.Max(m, Sse.Shuffle(m, m, 0b_10_11_00_01));
        return m.ToScalar();
    }
}
