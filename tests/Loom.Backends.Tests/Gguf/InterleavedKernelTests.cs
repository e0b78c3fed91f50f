using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 kernels over weights repacked eight rows side by side
/// (<see cref="InterleavedWeights"/>; the K-quants' <see cref="InterleavedSuperBlocks"/> are covered by
/// <see cref="BlockKernelTests"/> and the row ranges here): equal to dequantize-then-multiply for every batch size 1..33 with a partial last
/// group of rows, each token alone bit-equal to it in a batch, the same bits for any split of the rows into ranges
/// (ranges that cut a group), and the exact fp16 widening of the scales.
/// </summary>
public unsafe class InterleavedKernelTests
{
    [Theory]
    [InlineData(DType.Q8_0, 13)]
    [InlineData(DType.Q4_0, 13)]
    [InlineData(DType.Q8_0, 3)]
    [InlineData(DType.Q4_0, 16)]
    [InlineData(DType.Q5_0, 13)]
    [InlineData(DType.Q5_0, 8)]
    [InlineData(DType.Q4_1, 11)]
    [InlineData(DType.Q5_1, 13)]
    // Odd group counts with a partial last group (pairs of groups and a lone one on the 512-bit path).
    [InlineData(DType.Q8_0, 37)]
    [InlineData(DType.Q4_0, 37)]
    [InlineData(DType.Q4_1, 21)]
    [InlineData(DType.Q5_0, 37)]
    [InlineData(DType.Q5_1, 45)]
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
    [InlineData(DType.Q4_1)]
    [InlineData(DType.Q5_0)]
    [InlineData(DType.Q5_1)]
    [InlineData(DType.Q4_K)]
    [InlineData(DType.Q5_K)]
    [InlineData(DType.Q6_K)]
    public void RowRangesThatCutGroupsGiveTheSameBits(DType dtype)
    {
        const int outFeatures = 21, numTokens = 6;
        int inFeatures = DTypes.BlockElements(dtype) * 5;
        var rng = new Random(23);
        var bytes = QuantizedLinearTests.RandomBlocks(dtype, BlockKernelTests.RowBytes(dtype, inFeatures) * outFeatures, rng);
        var x = BlockKernelTests.RandomInputs(numTokens * inFeatures, rng);
        var whole = new float[numTokens * outFeatures];
        var split = new float[numTokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, wp = whole, sp = split)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "test"));
            bool pairs = CpuIsa.Avx512; // the 512-bit kernels take groups in pairs
            Assert.Equal((pairs ? 2 : 1) * InterleavedWeights.GroupRows, linear.RowGranularity);
            linear.ComputeRows(xp, inFeatures, numTokens, wp, outFeatures, 0, outFeatures);
            foreach (var (start, end) in new[] { (0, 3), (3, 11), (11, 12), (12, 21) })
                linear.ComputeRows(xp, inFeatures, numTokens, sp, outFeatures, start, end);
        }
        Assert.Equal(whole, split);
    }

    /// <summary>Each token's outputs are bit-identical alone and in a batch of 15 (tiles of eight and four, single tokens), on the model's row length.</summary>
    [Theory]
    [InlineData(DType.Q4_1)]
    [InlineData(DType.Q5_0)]
    [InlineData(DType.Q5_1)]
    public void BatchedOutputsEqualEachTokenAlone(DType dtype) => QuantizedLinearTests.AssertBatchedOutputsEqualEachTokenAlone(dtype, inFeatures: 896);

    /// <summary>The fifth bits' rearrangement: value 4c + i's bit lands on bit c of byte i, value 16 + 4c + i's on bit 4 + c.</summary>
    [Fact]
    public void FifthBitsLandWhereTheKernelShiftsThemFrom()
    {
        for (int j = 0; j < 32; j++)
        {
            int c = j % 16 / 4, i = j % 4, bit = 8 * i + c + (j >= 16 ? 4 : 0);
            Assert.Equal(1u << bit, InterleavedWeights.FifthBits(1u << j));
        }
    }

    /// <summary>The eight-token tile subtracts o·Σx as Σx shifted: each offset must be its shift's power of two.</summary>
    [Fact]
    public void OffsetsAreTheirShiftsPowerOfTwo()
    {
        Assert.Equal(Q4_0Format.Offset, 1 << Q4_0Format.OffsetShift);
        Assert.Equal(Q5_0Format.Offset, 1 << Q5_0Format.OffsetShift);
        Assert.Equal((0, 0), (Q4_1Format.Offset, Q4_1Format.OffsetShift));
        Assert.Equal((0, 0), (Q5_1Format.Offset, Q5_1Format.OffsetShift));
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

    /// <summary>A tensor with an infinite scale or min keeps the in-place kernels (the widening is exact for finite values only).</summary>
    [Theory]
    [InlineData(DType.Q8_0, 0)]
    [InlineData(DType.Q5_1, 2)]
    public void InfiniteScaleKeepsTheInPlaceKernels(DType dtype, int halfOffset)
    {
        const int inFeatures = 64, outFeatures = 8;
        var bytes = QuantizedLinearTests.RandomBlocks(dtype, BlockKernelTests.RowBytes(dtype, inFeatures) * outFeatures, new Random(4));
        bytes[halfOffset] = 0x00;
        bytes[halfOffset + 1] = 0x7C; // +inf
        fixed (byte* data = bytes)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "test"));
            Assert.Equal(4, linear.RowGranularity);
        }
    }
}
