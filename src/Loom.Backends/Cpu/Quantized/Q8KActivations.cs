using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Activation rows quantized to 8 bits per 256-value block with the Σq of every 16 values, as llama.cpp quantizes the
/// activations it multiplies with K-quant weights (block_q8_K: d, qs[256], bsums[16]). d = max|x| / 127 and q =
/// round-half-even(x / d), as <see cref="Q8Activations"/> does (ggml takes d = -max / 127 of the signed maximum, the
/// same values up to sign). The bsums let the kernels apply the weights' mins and offsets once per 16 values. A
/// per-thread scratch (or a launch's shared input, <see cref="PreparedInput"/>) that grows to the largest batch seen and is then reused.
/// </summary>
internal sealed unsafe class Q8KActivations
{
    [ThreadStatic] private static Q8KActivations? t_instance;

    private sbyte[] _quants = [];   // [numTokens, n]
    private float[] _scales = [];   // [numTokens, n / 256]
    private short[] _sums = [];     // [numTokens, n / 16]

    /// <summary>This thread's scratch.</summary>
    public static Q8KActivations ForThisThread() => t_instance ??= new Q8KActivations();

    /// <summary>Quantizes <paramref name="numTokens"/> rows of <paramref name="n"/> values (a multiple of 256), row t at x + t * xStride.</summary>
    public void Quantize(float* x, int xStride, int numTokens, int n)
    {
        Reserve(numTokens, n);
        for (int t = 0; t < numTokens; t++) QuantizeToken(x + (long)t * xStride, t, n);
    }

    /// <summary>Grows the buffers to <paramref name="numTokens"/> rows of <paramref name="n"/> values (a multiple of 256).</summary>
    public void Reserve(int numTokens, int n)
    {
        if (_quants.Length >= numTokens * n) return;
        _quants = GC.AllocateUninitializedArray<sbyte>(numTokens * n, pinned: true);
        _scales = GC.AllocateUninitializedArray<float>(numTokens * (n / 256), pinned: true);
        _sums = GC.AllocateUninitializedArray<short>(numTokens * (n / 16), pinned: true);
    }

    /// <summary>Token t's row (n values at x) into row t of the buffers, which <see cref="Reserve"/> has grown; rows are independent, so threads may fill different ones.</summary>
    public void QuantizeToken(float* x, int t, int n) =>
        QuantizeRow(x, n, Quants + (long)t * n, Scales + (long)t * (n / 256), Sums + (long)t * (n / 16));

    /// <summary>[numTokens, n] int8 quants (pinned arrays, so the pointers stay valid).</summary>
    public sbyte* Quants => (sbyte*)Unsafe.AsPointer(ref _quants[0]);
    /// <summary>[numTokens, n / 256] block scales d.</summary>
    public float* Scales => (float*)Unsafe.AsPointer(ref _scales[0]);
    /// <summary>[numTokens, n / 16] Σq of each 16 values.</summary>
    public short* Sums => (short*)Unsafe.AsPointer(ref _sums[0]);

    /// <summary>One row: n / 256 blocks into q (n bytes), d (n / 256) and the 16-value sums (n / 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(float* x, int n, sbyte* q, float* d, short* sums)
    {
        for (int b = 0; b < n / 256; b++)
        {
            float* xb = x + b * 256;
            float amax = Avx2.IsSupported ? MaxAbs(xb) : MaxAbsScalar(xb);
            d[b] = amax / 127f;
            float inverse = amax != 0 ? 127f / amax : 0f;
            if (Avx2.IsSupported) QuantizeBlock(xb, inverse, q + b * 256, sums + b * 16);
            else QuantizeBlockScalar(xb, inverse, q + b * 256, sums + b * 16);
        }
    }

    private static float MaxAbs(float* x)
    {
        var max = Vector256<float>.Zero;
        for (int j = 0; j < 256; j += 8) max = Vector256.Max(max, Vector256.Abs(Avx.LoadVector256(x + j)));
        var m = Vector128.Max(max.GetLower(), max.GetUpper());
        m = Vector128.Max(m, Sse.Shuffle(m, m, 0b_01_00_11_10));
        m = Vector128.Max(m, Sse.Shuffle(m, m, 0b_10_11_00_01));
        return m.ToScalar();
    }

    /// <summary>32 values at a time, as <see cref="Q8Activations.QuantizeRow"/>; cvtps2dq rounds to nearest even.</summary>
    private static void QuantizeBlock(float* x, float inverse, sbyte* q, short* sums)
    {
        var id = Vector256.Create(inverse);
        for (int j = 0; j < 256; j += 32)
        {
            var i0 = Avx.ConvertToVector256Int32(Avx.LoadVector256(x + j) * id);
            var i1 = Avx.ConvertToVector256Int32(Avx.LoadVector256(x + j + 8) * id);
            var i2 = Avx.ConvertToVector256Int32(Avx.LoadVector256(x + j + 16) * id);
            var i3 = Avx.ConvertToVector256Int32(Avx.LoadVector256(x + j + 24) * id);
            var packed = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
            packed = Avx2.PermuteVar8x32(packed.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
            Avx.Store(q + j, packed);
            sums[j / 16] = (short)Vector256.Sum(i0 + i1);
            sums[j / 16 + 1] = (short)Vector256.Sum(i2 + i3);
        }
    }

    private static float MaxAbsScalar(float* x)
    {
        float amax = 0;
        for (int j = 0; j < 256; j++) amax = Math.Max(amax, Math.Abs(x[j]));
        return amax;
    }

    private static void QuantizeBlockScalar(float* x, float inverse, sbyte* q, short* sums)
    {
        for (int g = 0; g < 16; g++)
        {
            int sum = 0;
            for (int j = g * 16; j < g * 16 + 16; j++)
            {
                int v = (int)MathF.Round(x[j] * inverse, MidpointRounding.ToEven);
                q[j] = (sbyte)v;
                sum += v;
            }
            sums[g] = (short)sum;
        }
    }
}
