using System.Runtime.InteropServices;
using Loom.Backends.Cpu;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>The quantized kernels equal dequantize-then-multiply (in double) on random blocks, within float rounding.</summary>
public unsafe class QuantizedLinearTests
{
    [Theory]
    [InlineData(DType.Q8_0, 64, 7, 1)]
    [InlineData(DType.Q8_0, 512, 33, 5)]
    [InlineData(DType.Q4_0, 96, 9, 1)]
    [InlineData(DType.Q4_0, 512, 17, 4)]
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

        // Reference: dequantize every row, multiply in double.
        var w = new float[outFeatures * inFeatures];
        GgmlQuants.Dequantize(dtype, weightBytes, w);
        var expected = new double[numTokens * outFeatures];
        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bias[o];
                for (int k = 0; k < inFeatures; k++) s += (double)w[o * inFeatures + k] * x[t * inFeatures + k];
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
                case DType.Q8_0 or DType.Q4_0: SetHalf(block, 0, rng); break;
                case DType.Q4_K: SetHalf(block, 0, rng); SetHalf(block, 2, rng); break;
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
