using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The Q8_0 / Q4_0 kernels over weights repacked eight rows side by side (<see cref="InterleavedWeights"/>): equal to
/// dequantize-then-multiply for every batch size 1..33 with a partial last group of rows, the same bits for any split
/// of the rows into ranges (ranges that cut a group), and the exact fp16 widening of the scales.
/// </summary>
public unsafe class InterleavedKernelTests
{
    [Theory]
    [InlineData(DType.Q8_0, 13)]
    [InlineData(DType.Q4_0, 13)]
    [InlineData(DType.Q8_0, 3)]
    [InlineData(DType.Q4_0, 16)]
    public void MatchesReferenceForEveryBatchSizeUpTo33(DType dtype, int outFeatures)
    {
        const int inFeatures = 96;
        var rng = new Random((int)dtype * 7 + outFeatures);
        var weight = QuantizedLinearTests.RandomBlocks(dtype, BlockKernelTests.RowBytes(dtype, inFeatures) * outFeatures, rng);
        var x = BlockKernelTests.RandomInputs(33 * inFeatures, rng);
        for (int numTokens = 1; numTokens <= 33; numTokens++)
            BlockKernelTests.AssertMatchesReference(dtype, weight, x.AsSpan(0, numTokens * inFeatures).ToArray(), inFeatures, outFeatures, numTokens);
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void RowRangesThatCutGroupsGiveTheSameBits(DType dtype)
    {
        const int inFeatures = 160, outFeatures = 21, numTokens = 6;
        var rng = new Random(23);
        var bytes = QuantizedLinearTests.RandomBlocks(dtype, BlockKernelTests.RowBytes(dtype, inFeatures) * outFeatures, rng);
        var x = BlockKernelTests.RandomInputs(numTokens * inFeatures, rng);
        var whole = new float[numTokens * outFeatures];
        var split = new float[numTokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, wp = whole, sp = split)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "test"));
            Assert.Equal(InterleavedWeights.GroupRows, linear.RowGranularity);
            linear.ComputeRows(xp, inFeatures, numTokens, wp, outFeatures, 0, outFeatures);
            foreach (var (start, end) in new[] { (0, 3), (3, 11), (11, 12), (12, 21) })
                linear.ComputeRows(xp, inFeatures, numTokens, sp, outFeatures, start, end);
        }
        Assert.Equal(whole, split);
    }

    /// <summary>Every finite fp16 bit pattern (zeros, subnormals, negatives) widens to exactly (float)Half.</summary>
    [Fact]
    public void HalfScalesWidenExactly()
    {
        if (!Avx2.IsSupported) return;
        var halves = new ushort[8];
        fixed (ushort* hp = halves)
            for (int start = 0; start < 65536; start += 8)
            {
                for (int i = 0; i < 8; i++) halves[i] = (ushort)(start + i);
                if ((halves[0] & 0x7C00) == 0x7C00) continue;
                var v = InterleavedGemm.HalvesToSingles(hp);
                for (int i = 0; i < 8; i++)
                    Assert.Equal(BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf(halves[i])), BitConverter.SingleToInt32Bits(v.GetElement(i)));
            }
    }

    /// <summary>A tensor with an infinite scale keeps the in-place kernels (the widening is exact for finite values only).</summary>
    [Fact]
    public void InfiniteScaleKeepsTheInPlaceKernels()
    {
        const int inFeatures = 64, outFeatures = 8;
        var bytes = QuantizedLinearTests.RandomBlocks(DType.Q8_0, BlockKernelTests.RowBytes(DType.Q8_0, inFeatures) * outFeatures, new Random(4));
        bytes[0] = 0x00;
        bytes[1] = 0x7C; // +inf
        fixed (byte* data = bytes)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", DType.Q8_0, [outFeatures, inFeatures], data, bytes.Length, "test"));
            Assert.Equal(4, linear.RowGranularity);
        }
    }
}
