using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The kernels of the types llama-quantize writes into Q4_K_M / Q5_K_M / Q6_K files (Q4_1, Q5_0, Q5_1, IQ4_NL fall
/// back where rows are not whole 256-value blocks; Q4_K, Q5_K, Q6_K) equal dequantize-then-multiply in double for
/// every batch size 1..33 (tiles of four tokens and every tail) and odd row counts, and a token's outputs do not depend
/// on the batch it is computed in.
/// </summary>
public unsafe class BlockKernelTests
{
    public static TheoryData<DType> NewTypes => [DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.IQ4_NL, DType.Q4_K, DType.Q5_K, DType.Q6_K];

    [Theory]
    [MemberData(nameof(NewTypes))]
    public void MatchesReferenceForEveryBatchSizeUpTo33(DType dtype)
    {
        int inFeatures = DTypes.BlockElements(dtype) * 3;
        const int outFeatures = 7;
        var rng = new Random((int)dtype * 101);
        var weight = QuantizedLinearTests.RandomBlocks(dtype, RowBytes(dtype, inFeatures) * outFeatures, rng);
        var x = RandomInputs(33 * inFeatures, rng);
        for (int numTokens = 1; numTokens <= 33; numTokens++)
            AssertMatchesReference(dtype, weight, x.AsSpan(0, numTokens * inFeatures).ToArray(), inFeatures, outFeatures, numTokens);
    }

    [Theory]
    [InlineData(DType.Q5_0, 896, 13, 5)]
    [InlineData(DType.Q5_0, 4864, 5, 2)]
    [InlineData(DType.Q4_1, 896, 9, 6)]
    [InlineData(DType.Q5_1, 160, 11, 9)]
    [InlineData(DType.IQ4_NL, 896, 5, 4)]
    [InlineData(DType.Q4_K, 4864, 5, 6)]
    [InlineData(DType.Q5_K, 1280, 3, 11)]
    [InlineData(DType.Q6_K, 4864, 6, 3)]
    [InlineData(DType.Q6_K, 256, 1, 1)]
    public void MatchesReferenceOnModelShapes(DType dtype, int inFeatures, int outFeatures, int numTokens)
    {
        var rng = new Random(inFeatures * 31 + outFeatures);
        var weight = QuantizedLinearTests.RandomBlocks(dtype, RowBytes(dtype, inFeatures) * outFeatures, rng);
        AssertMatchesReference(dtype, weight, RandomInputs(numTokens * inFeatures, rng), inFeatures, outFeatures, numTokens);
    }

    /// <summary>Each token's outputs are bit-identical whether it runs alone or in a batch of 15 (tiles of eight and four, single tokens).</summary>
    [Theory]
    [MemberData(nameof(NewTypes))]
    public void BatchedOutputsEqualEachTokenAlone(DType dtype) =>
        QuantizedLinearTests.AssertBatchedOutputsEqualEachTokenAlone(dtype, DTypes.BlockElements(dtype) * 5);

    /// <summary>Q8_K activations: d = max|x| / 127 per 256 values, q = round-half-even(x / d), and Σq of every 16.</summary>
    [Fact]
    public void Q8KActivationsQuantizePerSuperBlockWithSixteenValueSums()
    {
        var rng = new Random(9);
        var x = RandomInputs(512, rng);
        x[300] = 3f; // the second block's maximum
        var q = new sbyte[512];
        var d = new float[2];
        var sums = new short[32];
        fixed (float* xp = x, dp = d)
        fixed (sbyte* qp = q)
        fixed (short* sp = sums)
            Q8KActivations.QuantizeRow(xp, 512, qp, dp, sp);
        Assert.Equal(3f / 127f, d[1]);
        Assert.Equal(127, q[300]);
        for (int b = 0; b < 2; b++)
        {
            float amax = x.Skip(b * 256).Take(256).Max(Math.Abs);
            for (int j = 0; j < 256; j++)
                Assert.Equal((sbyte)MathF.Round(x[b * 256 + j] * (127f / amax), MidpointRounding.ToEven), q[b * 256 + j]);
        }
        for (int g = 0; g < 32; g++) Assert.Equal(q.Skip(g * 16).Take(16).Sum(v => v), sums[g]);
    }

    /// <summary>x as the kernels of <paramref name="dtype"/> see it: quantized to Q8 (32-value types) or Q8_K (K-quants) and dequantized.</summary>
    internal static double[] ActivationsAsUsed(DType dtype, float[] x, int n) =>
        DTypes.BlockElements(dtype) == 256 ? Q8KRoundTrip(x, n) : QuantizedLinearTests.Q8RoundTrip(x, n);

    private static double[] Q8KRoundTrip(float[] x, int n)
    {
        var result = new double[x.Length];
        var q = new sbyte[n];
        var d = new float[n / 256];
        var sums = new short[n / 16];
        for (int t = 0; t < x.Length / n; t++)
        {
            fixed (float* xp = x, dp = d)
            fixed (sbyte* qp = q)
            fixed (short* sp = sums)
                Q8KActivations.QuantizeRow(xp + t * n, n, qp, dp, sp);
            for (int k = 0; k < n; k++) result[t * n + k] = (double)d[k / 256] * q[k];
        }
        return result;
    }

    internal static void AssertMatchesReference(DType dtype, byte[] weightBytes, float[] x, int inFeatures, int outFeatures, int numTokens)
    {
        var w = new float[outFeatures * inFeatures];
        GgmlQuants.Dequantize(dtype, weightBytes, w);
        var xUsed = ActivationsAsUsed(dtype, x, inFeatures);
        var y = new float[numTokens * outFeatures];
        fixed (byte* data = weightBytes)
        fixed (float* xp = x, yp = y)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, weightBytes.Length, "test"));
            Assert.Equal(weightBytes.Length, linear.WeightBytes);
            linear.ComputeRows(xp, inFeatures, numTokens, yp, outFeatures, 0, outFeatures);
        }
        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0, magnitude = 0;
                for (int k = 0; k < inFeatures; k++)
                {
                    double term = (double)w[o * inFeatures + k] * xUsed[t * inFeatures + k];
                    expected += term;
                    magnitude += Math.Abs(term);
                }
                // fp32 accumulation of the block sums: a few ulps of the terms' magnitude, far below one wrong weight.
                double tolerance = 2e-6 * magnitude + 1e-6;
                float actual = y[t * outFeatures + o];
                Assert.True(Math.Abs(actual - expected) <= tolerance,
                    $"{dtype} [{outFeatures}, {inFeatures}] x {numTokens} tokens: token {t} row {o}: {actual} vs {expected} (±{tolerance})");
            }
    }

    internal static long RowBytes(DType dtype, int inFeatures) => inFeatures / DTypes.BlockElements(dtype) * DTypes.BlockBytes(dtype);

    internal static float[] RandomInputs(int count, Random rng)
    {
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
