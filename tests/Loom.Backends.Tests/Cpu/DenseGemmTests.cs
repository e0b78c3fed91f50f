using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Kernels;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Cpu;

public unsafe class DenseGemmTests
{
    public static TheoryData<DType, int, int, int> Shapes() => new()
    {
        { DType.F32, 1, 64, 160 },
        { DType.F32, 9, 37, 13 },
        { DType.F16, 1, 64, 160 },
        { DType.F16, 7, 100, 21 },
        { DType.BF16, 1, 64, 160 },
        { DType.BF16, 4, 64, 8 },
        { DType.BF16, 13, 259, 35 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Linear_MatchesNaiveProduct(DType dtype, int numTokens, int inFeatures, int outFeatures)
    {
        using var tensors = new TestTensors();
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 1), out var wStored);
        var b = tensors.Create("b", dtype, [outFeatures], TestTensors.Random(outFeatures, 2), out var bStored);
        var x = TestTensors.Random(numTokens * inFeatures, 3);
        var linear = CpuLinear.Create(w, b);

        var y = Run(linear, x, numTokens);

        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = bStored[o];
                for (int k = 0; k < inFeatures; k++) expected += (double)wStored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.True(Math.Abs(y[t * outFeatures + o] - expected) <= 1e-5 * Math.Sqrt(inFeatures),
                    $"y[{t},{o}] = {y[t * outFeatures + o]}, expected {expected}");
            }
    }

    [Fact]
    public void Linear_OverRowRange_ReadsThoseRowsOfAFusedWeight()
    {
        using var tensors = new TestTensors();
        const int inFeatures = 24;
        var fused = tensors.Create("qkv", DType.BF16, [10, inFeatures], TestTensors.Random(10 * inFeatures, 4), out var stored);
        var x = TestTensors.Random(2 * inFeatures, 5);

        var part = CpuLinear.Create(fused, rowOffset: 6, rows: 4);
        var y = Run(part, x, 2);

        Assert.Equal(4, part.OutFeatures);
        for (int t = 0; t < 2; t++)
            for (int o = 0; o < 4; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[(6 + o) * inFeatures + k] * x[t * inFeatures + k];
                Assert.Equal(expected, y[t * 4 + o], 4);
            }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Linear_TokenResultIsBitIdentical_WhateverTheBatchAroundIt(DType dtype)
    {
        using var tensors = new TestTensors();
        const int inFeatures = 67, outFeatures = 11;
        var linear = CpuLinear.Create(tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 6), out _));
        var batch = TestTensors.Random(9 * inFeatures, 7);

        var together = Run(linear, batch, 9);
        for (int t = 0; t < 9; t++)
        {
            var alone = Run(linear, batch.AsSpan(t * inFeatures, inFeatures).ToArray(), 1);
            Assert.Equal(alone, together.AsSpan(t * outFeatures, outFeatures).ToArray());
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Linear_EveryBatchShape_MatchesNaiveProductAndIsBitIdenticalToTheTokenAlone(DType dtype)
    {
        // 1100 inputs: whole 8-value vectors and a 4-value scalar tail; 7 rows: three row pairs and an odd row (for F16
        // and BF16, one partial group of the repacked layout); 1..33 tokens and 133 (past one token tile).
        using var tensors = new TestTensors();
        const int inFeatures = 1100, outFeatures = 7, maxTokens = 133;
        var linear = CpuLinear.Create(tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 10), out var stored));
        var x = TestTensors.Random(maxTokens * inFeatures, 11);
        var alone = new float[maxTokens][];
        for (int t = 0; t < maxTokens; t++) alone[t] = Run(linear, x.AsSpan(t * inFeatures, inFeatures).ToArray(), 1);
        for (int t = 0; t < maxTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.True(Math.Abs(alone[t][o] - expected) <= 1e-5 * Math.Sqrt(inFeatures), $"y[{t},{o}] = {alone[t][o]}, expected {expected}");
            }

        foreach (int numTokens in Enumerable.Range(1, 33).Append(maxTokens))
        {
            var together = Run(linear, x.AsSpan(0, numTokens * inFeatures).ToArray(), numTokens);
            for (int t = 0; t < numTokens; t++)
                Assert.True(alone[t].AsSpan().SequenceEqual(together.AsSpan(t * outFeatures, outFeatures)), $"token {t} of a batch of {numTokens} differs from the token alone");
        }
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void Linear_QuantizedWeightWithWrongByteCount_IsRejectedNamingTheTensor(DType dtype)
    {
        // Quantized kernels live in Cpu/Quantized (tests in Gguf/QuantizedLinearTests); a size lie is still caught.
        var w = new TensorInfo("model.layers.0.mlp.up_proj.weight", dtype, [4, 32], null, 0, "test");
        var e = Assert.Throws<ArgumentException>(() => CpuLinear.Create(w));
        Assert.Contains("model.layers.0.mlp.up_proj.weight", e.Message);
    }

    [Fact]
    public void Linear_ByteCountDisagreeingWithShape_IsRejectedNamingTheTensor()
    {
        using var tensors = new TestTensors();
        var good = tensors.Create("w", DType.F32, [4, 8], new float[32], out _);
        var bad = new TensorInfo("lm_head.weight", DType.F32, [4, 8], good.Data, 64, "x.safetensors");
        var e = Assert.Throws<ArgumentException>(() => CpuLinear.Create(bad));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void PortablePath_WithoutAvx2_MatchesNaiveProduct(DType dtype)
    {
        using var tensors = new TestTensors();
        const int numTokens = 3, inFeatures = 600, outFeatures = 5; // longer than one widened slice
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 8), out var stored);
        var x = TestTensors.Random(numTokens * inFeatures, 9);
        var y = new float[numTokens * outFeatures];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            if (dtype == DType.F32) DenseGemm.ComputeRowsPortable<F32Format>(w.Data, inFeatures, px, inFeatures, numTokens, py, outFeatures, 0, outFeatures);
            if (dtype == DType.F16) DenseGemm.ComputeRowsPortable<F16Format>(w.Data, inFeatures, px, inFeatures, numTokens, py, outFeatures, 0, outFeatures);
            if (dtype == DType.BF16) DenseGemm.ComputeRowsPortable<Bf16Format>(w.Data, inFeatures, px, inFeatures, numTokens, py, outFeatures, 0, outFeatures);
        }
        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.Equal(expected, y[t * outFeatures + o], 3);
            }
    }

    [Fact]
    public void F16Widening_IsExactForNormalSubnormalAndSignedValues()
    {
        if (!DenseGemm.UseAvx2) return; // the in-register path exists only with AVX2
        ushort[] bits = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x3555, 0x8123, 0x1234];
        var padded = new ushort[16];
        bits.CopyTo(padded, 0);
        fixed (ushort* p = padded)
        {
            var v0 = F16Format.Load8((byte*)p, 0);
            var v1 = F16Format.Load8((byte*)p, 8);
            for (int i = 0; i < bits.Length; i++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
                float actual = i < 8 ? v0[i] : v1[i - 8];
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
            }
        }
    }

    private static float[] Run(CpuLinear linear, float[] x, int numTokens) => SplitRowsRunner.Run(linear, x, numTokens);
}
