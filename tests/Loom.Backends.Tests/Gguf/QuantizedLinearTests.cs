using System.Runtime.InteropServices;
using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The quantized kernels equal dequantize-then-multiply (in double) on random blocks, within float rounding. The
/// kernels multiply quantized activations (llama.cpp's scheme: Q8 for 32-value blocks, Q8_K for K-quants), so the
/// reference dequantizes those activations too. More block types and shapes: <see cref="BlockKernelTests"/>.
/// </summary>
public unsafe class QuantizedLinearTests
{
    [Theory]
    [InlineData(DType.Q8_0, 64, 7, 1)]
    [InlineData(DType.Q8_0, 512, 33, 5)]
    [InlineData(DType.Q8_0, 896, 13, 11)]
    [InlineData(DType.Q4_0, 96, 9, 1)]
    [InlineData(DType.Q4_0, 512, 17, 4)]
    [InlineData(DType.Q4_0, 4864, 6, 9)]
    [InlineData(DType.Q4_K, 256, 5, 3)]
    [InlineData(DType.Q6_K, 512, 6, 2)]
    public void MatchesDequantizeThenMultiply(DType dtype, int inFeatures, int outFeatures, int numTokens)
    {
        var rng = new Random(inFeatures * 31 + outFeatures);
        long rowBytes = inFeatures / DTypes.BlockElements(dtype) * DTypes.BlockBytes(dtype);
        var weightBytes = RandomBlocks(dtype, outFeatures * rowBytes, rng);
        var x = new float[numTokens * inFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var bias = new float[outFeatures];
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)rng.NextDouble();

        // Reference: dequantize every row (and, for Q8_0/Q4_0, the Q8 activations), multiply in double.
        var w = new float[outFeatures * inFeatures];
        GgmlQuants.Dequantize(dtype, weightBytes, w);
        var xUsed = BlockKernelTests.ActivationsAsUsed(dtype, x, inFeatures);
        var expected = new double[numTokens * outFeatures];
        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bias[o];
                for (int k = 0; k < inFeatures; k++) s += (double)w[o * inFeatures + k] * xUsed[t * inFeatures + k];
                expected[t * outFeatures + o] = s;
            }

        var y = new float[numTokens * outFeatures];
        fixed (byte* data = weightBytes)
        fixed (float* xp = x, yp = y, bp = bias)
        {
            var weight = new TensorInfo("w", dtype, [outFeatures, inFeatures], data, weightBytes.Length, "test");
            var biasTensor = new TensorInfo("b", DType.F32, [outFeatures], (byte*)bp, bias.Length * 4, "test");
            var linear = CpuLinear.Create(weight, biasTensor);
            Assert.Equal(outFeatures * rowBytes, linear.WeightBytes);
            linear.ComputeRows(xp, inFeatures, numTokens, yp, outFeatures, 0, outFeatures);
        }
        for (int i = 0; i < y.Length; i++)
        {
            double scale = 1e-5 * (1 + Math.Abs(expected[i])) * Math.Sqrt(inFeatures);
            Assert.True(Math.Abs(y[i] - expected[i]) <= scale, $"{dtype} element {i}: {y[i]} vs {expected[i]}");
        }
    }

    /// <summary>Each token's outputs are bit-identical whether it runs alone or in any batch (tiles of eight and four, single tokens).</summary>
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void BatchedOutputsEqualEachTokenAlone(DType dtype) => AssertBatchedOutputsEqualEachTokenAlone(dtype, inFeatures: 320);

    /// <summary>
    /// Runs 15 tokens (a tile of eight, one of four, three single tokens) through an 11-row layer of random <paramref name="dtype"/> blocks at once, then each token alone,
    /// and asserts every token's outputs are bit-identical both ways (shared by the block-kernel tests of other types).
    /// </summary>
    internal static void AssertBatchedOutputsEqualEachTokenAlone(DType dtype, int inFeatures)
    {
        const int outFeatures = 11, numTokens = 15;
        var rng = new Random(17);
        var bytes = RandomBlocks(dtype, outFeatures * (inFeatures / DTypes.BlockElements(dtype) * DTypes.BlockBytes(dtype)), rng);
        var x = new float[numTokens * inFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var together = new float[numTokens * outFeatures];
        var alone = new float[outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, yp = together, ap = alone)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "test"));
            linear.ComputeRows(xp, inFeatures, numTokens, yp, outFeatures, 0, outFeatures);
            for (int t = 0; t < numTokens; t++)
            {
                linear.ComputeRows(xp + t * inFeatures, inFeatures, 1, ap, outFeatures, 0, outFeatures);
                Assert.True(alone.AsSpan().SequenceEqual(together.AsSpan(t * outFeatures, outFeatures)), $"{dtype} token {t}");
            }
        }
    }

    /// <summary>Activations are quantized like llama.cpp's quantize_row_q8_0: d = max|x| / 127, q = round-half-even(x / d).</summary>
    [Fact]
    public void ActivationQuantizationRoundsToNearestEven()
    {
        var x = new float[64];
        var rng = new Random(3);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        x[5] = 2.5f * (x.Take(32).Max(Math.Abs) / 127f); // a tie: rounds to 2, not 3
        var q = new sbyte[64];
        var d = new float[2];
        var sums = new int[2];
        fixed (float* xp = x, dp = d)
        fixed (sbyte* qp = q)
        fixed (int* sp = sums)
            Q8Activations.QuantizeRow(xp, 64, qp, dp, sp);
        for (int b = 0; b < 2; b++)
        {
            float amax = x.Skip(b * 32).Take(32).Max(Math.Abs);
            Assert.Equal(amax / 127f, d[b]);
            for (int j = 0; j < 32; j++)
                Assert.Equal((sbyte)MathF.Round(x[b * 32 + j] * (127f / amax), MidpointRounding.ToEven), q[b * 32 + j]);
            Assert.Equal(q.Skip(b * 32).Take(32).Sum(v => v), sums[b]);
        }
        Assert.Equal(2, Math.Abs((int)q[5]));
    }

    [Fact]
    public void FusedRowSplitReadsTheRightRows()
    {
        var rng = new Random(5);
        const int inFeatures = 64, rows = 6;
        var bytes = RandomBlocks(DType.Q8_0, rows * 68, rng);
        var x = new float[inFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var full = new float[rows];
        var part = new float[2];
        fixed (byte* data = bytes)
        fixed (float* xp = x, fp = full, pp = part)
        {
            var weight = new TensorInfo("w", DType.Q8_0, [rows, inFeatures], data, bytes.Length, "test");
            CpuLinear.Create(weight).ComputeRows(xp, inFeatures, 1, fp, rows, 0, rows);
            CpuLinear.Create(weight, null, rowOffset: 3, rows: 2).ComputeRows(xp, inFeatures, 1, pp, 2, 0, 2);
        }
        Assert.Equal(full[3], part[0]);
        Assert.Equal(full[4], part[1]);
    }

    /// <summary>x with each token's row quantized to Q8 blocks by the kernels' quantizer and dequantized again.</summary>
    internal static double[] Q8RoundTrip(float[] x, int n)
    {
        var result = new double[x.Length];
        var q = new sbyte[n];
        var d = new float[n / 32];
        var sums = new int[n / 32];
        for (int t = 0; t < x.Length / n; t++)
        {
            fixed (float* xp = x, dp = d)
            fixed (sbyte* qp = q)
            fixed (int* sp = sums)
                Q8Activations.QuantizeRow(xp + t * n, n, qp, dp, sp);
            for (int k = 0; k < n; k++) result[t * n + k] = (double)d[k / 32] * q[k];
        }
        return result;
    }

    /// <summary>Random quantized bytes with sane f16 scales (random bits elsewhere cover every quant value).</summary>
    internal static byte[] RandomBlocks(DType dtype, long bytes, Random rng)
    {
        var data = new byte[bytes];
        rng.NextBytes(data);
        int blockBytes = DTypes.BlockBytes(dtype);
        for (long b = 0; b < bytes; b += blockBytes)
        {
            var block = data.AsSpan((int)b, blockBytes);
            switch (dtype)
            {
                case DType.Q8_0 or DType.Q4_0 or DType.Q5_0 or DType.IQ4_NL: SetHalf(block, 0, rng); break;
                case DType.Q4_K or DType.Q5_K or DType.Q4_1 or DType.Q5_1: SetHalf(block, 0, rng); SetHalf(block, 2, rng); break;
                case DType.Q6_K: SetHalf(block, 208, rng); break;
            }
        }
        return data;
    }

    private static void SetHalf(Span<byte> block, int offset, Random rng)
    {
        ushort bits = BitConverter.HalfToUInt16Bits((Half)(rng.NextDouble() * 0.02 + 0.001));
        MemoryMarshal.Write(block[offset..], in bits);
    }
}
