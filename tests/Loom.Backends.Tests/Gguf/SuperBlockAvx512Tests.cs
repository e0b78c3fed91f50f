using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The K-quants' 512-bit kernels (two groups of eight rows per zmm, <see cref="InterleavedSuperBlockGemm"/>) against
/// the 256-bit ones, both called directly so the AVX2 path stays tested on an AVX-512 machine: the same bits for every
/// (row, token) at every batch size 1..33 (tiles of eight and four, single tokens) and for row ranges that cut groups
/// or leave a group without a partner, and each equal to dequantize-then-multiply in double. Skipped without AVX-512.
/// </summary>
public unsafe class SuperBlockAvx512Tests
{
    /// <summary>Whole range, ranges that cut a group at either end, odd group counts (a lone last group), one row, one group.</summary>
    private static readonly (int Start, int End)[] Ranges = [(0, 45), (3, 29), (5, 13), (8, 24), (17, 45), (40, 41), (16, 24), (0, 16)];

    [SkippableTheory]
    [InlineData(DType.Q4_K, 3)]
    [InlineData(DType.Q5_K, 3)]
    [InlineData(DType.Q6_K, 3)]
    [InlineData(DType.Q6_K, 1)]
    public void Avx512GivesTheAvx2BitsAndMatchesTheReference(DType dtype, int blocks)
    {
        Skip.If(!CpuIsa.Avx512, "no AVX-512 on this machine: the 512-bit K-quant kernels are not used here");
        const int outFeatures = 45, maxTokens = 33;
        int inFeatures = 256 * blocks;
        var rng = new Random((int)dtype * 13 + blocks);
        var bytes = QuantizedLinearTests.RandomBlocks(dtype, BlockKernelTests.RowBytes(dtype, inFeatures) * outFeatures, rng);
        var x = BlockKernelTests.RandomInputs(maxTokens * inFeatures, rng);
        var w = new float[outFeatures * inFeatures];
        GgmlQuants.Dequantize(dtype, bytes, w);
        var xUsed = BlockKernelTests.ActivationsAsUsed(dtype, x, inFeatures);
        var wide = new float[maxTokens * outFeatures];
        var narrow = new float[maxTokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, wp = wide, np = narrow)
        {
            var packed = Pack(dtype, data, BlockKernelTests.RowBytes(dtype, inFeatures), outFeatures, blocks);
            var q8k = Q8KActivations.ForThisThread();
            for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
            {
                q8k.Quantize(xp, inFeatures, numTokens, inFeatures);
                foreach (var (start, end) in Ranges)
                {
                    Array.Fill(wide, float.NaN);
                    Array.Fill(narrow, float.NaN);
                    Compute(dtype, packed, q8k, numTokens, wp, outFeatures, start, end, avx512: true);
                    Compute(dtype, packed, q8k, numTokens, np, outFeatures, start, end, avx512: false);
                    for (int t = 0; t < numTokens; t++)
                        for (int o = 0; o < outFeatures; o++)
                        {
                            int i = t * outFeatures + o;
                            if (o < start || o >= end)
                            {
                                Assert.True(float.IsNaN(wide[i]), $"{dtype}: row {o} outside [{start}, {end}) was written");
                                continue;
                            }
                            Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(narrow[i]),
                                $"{dtype} x {numTokens} tokens, rows [{start}, {end}): token {t} row {o}: AVX-512 {wide[i]} vs AVX2 {narrow[i]}");
                            AssertNearReference(w, xUsed, inFeatures, t, o, wide[i], dtype, numTokens);
                        }
                }
            }
        }
    }

    private static void AssertNearReference(float[] w, double[] xUsed, int inFeatures, int t, int o, float actual, DType dtype, int numTokens)
    {
        double expected = 0, magnitude = 0;
        for (int k = 0; k < inFeatures; k++)
        {
            double term = (double)w[o * inFeatures + k] * xUsed[t * inFeatures + k];
            expected += term;
            magnitude += Math.Abs(term);
        }
        // As BlockKernelTests: a few ulps of the terms' magnitude, far below one wrong weight.
        double tolerance = 2e-6 * magnitude + 1e-6;
        Assert.True(Math.Abs(actual - expected) <= tolerance, $"{dtype} x {numTokens} tokens: token {t} row {o}: {actual} vs {expected} (±{tolerance})");
    }

    private static InterleavedSuperBlocks Pack(DType dtype, byte* rows, long rowBytes, int outFeatures, int blocks) => dtype switch
    {
        DType.Q4_K => InterleavedSuperBlocks.Create<Q4_KBlock>(rows, rowBytes, outFeatures, blocks, hasHighBits: false),
        DType.Q5_K => InterleavedSuperBlocks.Create<Q5_KBlock>(rows, rowBytes, outFeatures, blocks, hasHighBits: true),
        _ => InterleavedSuperBlocks.Create<Q6_KBlock>(rows, rowBytes, outFeatures, blocks, hasHighBits: true),
    };

    private static void Compute(DType dtype, InterleavedSuperBlocks w, Q8KActivations x, int numTokens, float* y, int yStride, int start, int end,
        bool avx512)
    {
        switch (dtype)
        {
            case DType.Q4_K: InterleavedSuperBlockGemm.ComputeRows<Q4_KFormat>(w, x, numTokens, y, yStride, start, end, avx512); break;
            case DType.Q5_K: InterleavedSuperBlockGemm.ComputeRows<Q5_KFormat>(w, x, numTokens, y, yStride, start, end, avx512); break;
            default: InterleavedSuperBlockGemm.ComputeRows<Q6_KFormat>(w, x, numTokens, y, yStride, start, end, avx512); break;
        }
    }
}
